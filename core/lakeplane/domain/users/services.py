"""Users and workspace members.

Global admins manage users; workspace admins manage the members of their own
workspace. No one changes their own admin flag, disabled flag or workspace role,
so no one can grant themselves more than they were given. Every change that
takes power away (disable, admin flag, role change or removal, password reset)
bumps the user's ``credential_epoch``, which ends their sessions and tokens at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import RoleBinding, User, Workspace
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.auth.principals import forget_user
from lakeplane.domain.auth.services import end_credentials, password_provider
from lakeplane.domain.users.schemas import MemberOut, UserCreate, UserOut, UserUpdate
from lakeplane.errors import NotFound, PermissionDenied, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.runtime import Services


def to_out(user: User | Row[Any]) -> UserOut:
    return resources.to_struct(UserOut, user)


async def list_users(db: AsyncSession, cursor: str | None, limit: int) -> Sequence[Row[Any]]:
    return await fetch_page(db, select_rows(User), User.id, cursor, limit)


async def get(db: AsyncSession, user_id: str, *, for_update: bool = False) -> User:
    user = await db.get(User, user_id, with_for_update=for_update)
    if user is None:
        raise NotFound("user not found")
    return user


async def create(db: AsyncSession, lp: Services, actor: audit.Actor, data: UserCreate) -> User:
    if data.is_service_account and (data.password is not None or data.is_admin):
        raise ValidationFailed(
            "a service account has no password and is never a global admin",
            [{"field": "is_service_account", "message": "conflicts with password or is_admin"}],
        )
    if not data.is_service_account and data.password is None:
        raise ValidationFailed("a person needs a password", [{"field": "password", "message": "required"}])
    password_hash = await password_provider(lp).hash_password(data.password) if data.password else None
    user = User(
        id=new_id("usr"),
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        password_hash=password_hash,
        is_admin=data.is_admin,
        is_service_account=data.is_service_account,
    )
    details = {
        "username": user.username,
        "is_admin": user.is_admin,
        "is_service_account": user.is_service_account,
    }
    await resources.insert(
        db,
        actor,
        audit.Entry.on("user.create", user.id, details=details),
        user,
        conflict=f"user {data.username!r} already exists",
    )
    return user


async def update(db: AsyncSession, lp: Services, actor: audit.Actor, user_id: str, data: UserUpdate) -> User:
    powers = {k: v for k, v in (("disabled", data.disabled), ("is_admin", data.is_admin)) if v is not None}
    if powers and user_id == actor.id:
        raise PermissionDenied("you cannot change your own admin or disabled flag")
    async with db.begin():
        user = await get(db, user_id, for_update=True)
        if powers.get("is_admin") and user.is_service_account:
            raise ValidationFailed(
                "a service account is never a global admin", [{"field": "is_admin", "message": "not allowed"}]
            )
        changed = resources.apply(user, display_name=data.display_name, email=data.email)
        powers = {k: v for k, v in powers.items() if getattr(user, k) != v}
        if powers:
            user = await end_credentials(db, user_id, **powers)
        details = {"changed": sorted([*changed, *powers]), **powers}
        await audit.record(db, actor, audit.Entry.on("user.update", user_id, details=details))
    forget_user(lp, user_id)
    return user


async def reset_password(
    db: AsyncSession, lp: Services, actor: audit.Actor, user_id: str, new_password: str
) -> None:
    password_hash = await password_provider(lp).hash_password(new_password)
    async with db.begin():
        user = await get(db, user_id)
        if user.is_service_account or user.auth_provider != password_provider(lp).name:
            raise ValidationFailed(
                "this user has no password here", [{"field": "new_password", "message": "n/a"}]
            )
        await end_credentials(db, user_id, password_hash=password_hash)
        await audit.record(db, actor, audit.Entry.on("user.password_reset", user_id))
    forget_user(lp, user_id)


async def members(db: AsyncSession, workspace: Workspace | Row[Any]) -> list[MemberOut]:
    rows = await db.execute(
        select(RoleBinding, User)
        .join(User, User.id == RoleBinding.user_id)
        .where(RoleBinding.workspace_id == workspace.id)
        .order_by(User.username)
    )
    return [_member(u, rb) for rb, u in rows.all()]


def _member(user: User, binding: RoleBinding) -> MemberOut:
    return resources.to_struct(
        MemberOut, user, user_id=user.id, role=binding.role, created_at=binding.created_at
    )


def _membership(action: str, user: User, workspace: Workspace, **details: Any) -> audit.Entry:
    """The audit entry of a change to ``user``'s role in ``workspace``."""
    return audit.Entry(
        action,
        target_type="user",
        target_id=user.id,
        workspace_id=workspace.id,
        details={"username": user.username, **details},
    )


async def set_member(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace: Workspace, username: str, role: str
) -> MemberOut:
    """Add a member or change its role. Changing an existing role ends that user's sessions."""
    async with db.begin():
        user = await db.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("user not found")
        if user.id == actor.id:
            raise PermissionDenied("you cannot change your own role")
        binding = await db.scalar(
            select(RoleBinding)
            .where(RoleBinding.user_id == user.id, RoleBinding.workspace_id == workspace.id)
            .with_for_update()
        )
        previous = binding.role if binding else None
        if binding is None:
            binding = RoleBinding(id=new_id("rb"), user_id=user.id, workspace_id=workspace.id, role=role)
            db.add(binding)
        elif binding.role != role:
            binding.role = role
            await end_credentials(db, user.id)
        await db.flush()
        entry = _membership("workspace.member_set", user, workspace, role=role, previous=previous)
        await audit.record(db, actor, entry)
    forget_user(lp, user.id)
    return _member(user, binding)


async def remove_member(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace: Workspace, username: str
) -> None:
    async with db.begin():
        user = await db.scalar(select(User).where(User.username == username))
        binding = (
            await db.scalar(
                select(RoleBinding).where(
                    RoleBinding.user_id == user.id, RoleBinding.workspace_id == workspace.id
                )
            )
            if user
            else None
        )
        if user is None or binding is None:
            raise NotFound("member not found")
        if user.id == actor.id:
            raise PermissionDenied("you cannot change your own role")
        await db.delete(binding)
        await end_credentials(db, user.id)
        entry = _membership("workspace.member_remove", user, workspace, previous=binding.role)
        await audit.record(db, actor, entry)
    forget_user(lp, user.id)
