"""``/api/v1/users`` (global admins) and ``/api/v1/workspaces/{ws}/members`` (workspace admins)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.names import Username
from lakeplane.domain.users import services
from lakeplane.domain.users.schemas import (
    MemberOut,
    MemberSet,
    PasswordReset,
    UserCreate,
    UserOut,
    UserUpdate,
)
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @get("/", operation_id="listUsers", opt={"permission": "admin"})
    async def list_users(self, db: AsyncSession, paging: Paging) -> Page[UserOut]:
        return page(await services.list_users(db, paging.cursor, paging.limit), paging.limit, services.to_out)

    @post("/", operation_id="createUser", opt={"permission": "admin"})
    async def create_user(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, data: UserCreate
    ) -> UserOut:
        return services.to_out(await services.create(db, lp, principal(request).actor(request), data))

    @get("/{user_id:str}", operation_id="getUser", opt={"permission": "admin"})
    async def get_user(self, db: AsyncSession, user_id: str) -> UserOut:
        return services.to_out(await services.get(db, user_id))

    @patch("/{user_id:str}", operation_id="updateUser", opt={"permission": "admin"})
    async def update_user(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, user_id: str, data: UserUpdate
    ) -> UserOut:
        user = await services.update(db, lp, principal(request).actor(request), user_id, data)
        return services.to_out(user)

    @post(
        "/{user_id:str}/password", operation_id="resetPassword", status_code=204, opt={"permission": "admin"}
    )
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        user_id: str,
        data: PasswordReset,
    ) -> None:
        await services.reset_password(db, lp, principal(request).actor(request), user_id, data.new_password)


class MemberController(Controller):
    path = "/api/v1/workspaces/{ws:str}/members"
    tags = ["workspaces"]

    @get("/", operation_id="listMembers", opt={"permission": "workspace:viewer"})
    async def list_members(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str
    ) -> list[MemberOut]:
        return await services.members(db, workspace(request))

    @put("/{username:str}", operation_id="setMember", opt={"permission": "workspace:admin"})
    async def set_member(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        username: str,
        data: MemberSet,
    ) -> MemberOut:
        actor = principal(request).actor(request)
        return await services.set_member(db, lp, actor, workspace(request), _username(username), data.role)

    @delete("/{username:str}", operation_id="removeMember", opt={"permission": "workspace:admin"})
    async def remove_member(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, username: str
    ) -> None:
        actor = principal(request).actor(request)
        await services.remove_member(db, lp, actor, workspace(request), _username(username))


def _username(value: str) -> Username:
    return value
