"""``/api/v1/users`` (global admins) and ``/api/v1/workspaces/{ws}/members`` (workspace admins)."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
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
from lakeplane.web.context import Caller, WorkspaceContext


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @get("/", operation_id="listUsers", opt={"permission": "admin"})
    async def list_users(self, db: AsyncSession, paging: Paging) -> Page[UserOut]:
        return page(await services.list_users(db, paging.cursor, paging.limit), paging.limit, services.to_out)

    @post("/", operation_id="createUser", opt={"permission": "admin"})
    async def create_user(self, caller: Caller, data: UserCreate) -> UserOut:
        return services.to_out(await services.create(caller.db, caller.lp, caller.actor, data))

    @get("/{user_id:str}", operation_id="getUser", opt={"permission": "admin"})
    async def get_user(self, db: AsyncSession, user_id: str) -> UserOut:
        return services.to_out(await services.get(db, user_id))

    @patch("/{user_id:str}", operation_id="updateUser", opt={"permission": "admin"})
    async def update_user(self, caller: Caller, user_id: str, data: UserUpdate) -> UserOut:
        return services.to_out(await services.update(caller.db, caller.lp, caller.actor, user_id, data))

    @post(
        "/{user_id:str}/password", operation_id="resetPassword", status_code=204, opt={"permission": "admin"}
    )
    async def reset_password(self, caller: Caller, user_id: str, data: PasswordReset) -> None:
        await services.reset_password(caller.db, caller.lp, caller.actor, user_id, data.new_password)


class MemberController(Controller):
    path = "/api/v1/workspaces/{ws:str}/members"
    tags = ["workspaces"]

    @get("/", operation_id="listMembers", opt={"permission": "workspace:viewer"})
    async def list_members(self, ctx: WorkspaceContext) -> list[MemberOut]:
        return await services.members(ctx.db, ctx.workspace)

    @put("/{username:str}", operation_id="setMember", opt={"permission": "workspace:admin"})
    async def set_member(self, ctx: WorkspaceContext, username: str, data: MemberSet) -> MemberOut:
        return await services.set_member(
            ctx.db, ctx.lp, ctx.actor, ctx.workspace, _username(username), data.role
        )

    @delete("/{username:str}", operation_id="removeMember", opt={"permission": "workspace:admin"})
    async def remove_member(self, ctx: WorkspaceContext, username: str) -> None:
        await services.remove_member(ctx.db, ctx.lp, ctx.actor, ctx.workspace, _username(username))


def _username(value: str) -> Username:
    return value
