"""``/api/v1/tokens`` (one's own) and ``/api/v1/users/{user_id}/tokens`` (service accounts, admins)."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.tokens import services
from lakeplane.domain.tokens.schemas import TokenCreate, TokenCreated, TokenOut
from lakeplane.web.context import Caller


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["tokens"]

    @get("/", operation_id="listMyTokens", opt={"permission": "authenticated"})
    async def list_tokens(self, caller: Caller, paging: Paging) -> Page[TokenOut]:
        rows = await services.list_for(caller.db, caller.principal.user_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createMyToken", opt={"permission": "authenticated"})
    async def create_token(self, caller: Caller, data: TokenCreate) -> TokenCreated:
        services.check_mint(caller.principal, data.scopes)
        return await services.create(caller.db, caller.actor, caller.principal.user_id, data)

    @delete("/{token_id:str}", operation_id="revokeMyToken", opt={"permission": "authenticated"})
    async def revoke_token(self, caller: Caller, token_id: str) -> None:
        await services.revoke(caller.db, caller.lp, caller.actor, caller.principal.user_id, token_id)


class ServiceAccountTokenController(Controller):
    path = "/api/v1/users/{user_id:str}/tokens"
    tags = ["tokens"]

    @get("/", operation_id="listUserTokens", opt={"permission": "admin"})
    async def list_tokens(self, db: AsyncSession, user_id: str, paging: Paging) -> Page[TokenOut]:
        rows = await services.list_for(db, user_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createServiceAccountToken", opt={"permission": "admin"})
    async def create_token(self, caller: Caller, user_id: str, data: TokenCreate) -> TokenCreated:
        services.check_mint(caller.principal, data.scopes)
        return await services.create(caller.db, caller.actor, user_id, data, service_account=True)

    @delete("/{token_id:str}", operation_id="revokeUserToken", opt={"permission": "admin"})
    async def revoke_token(self, caller: Caller, user_id: str, token_id: str) -> None:
        await services.revoke(caller.db, caller.lp, caller.actor, user_id, token_id)
