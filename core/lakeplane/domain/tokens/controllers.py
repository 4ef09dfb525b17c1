"""``/api/v1/tokens`` (one's own) and ``/api/v1/users/{user_id}/tokens`` (service accounts, admins)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.tokens import services
from lakeplane.domain.tokens.schemas import TokenCreate, TokenCreated, TokenOut
from lakeplane.runtime import Services
from lakeplane.web.guards import principal


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["tokens"]

    @get("/", operation_id="listMyTokens", opt={"permission": "authenticated"})
    async def list_tokens(
        self, request: Request[Any, Any, Any], db: AsyncSession, paging: Paging
    ) -> Page[TokenOut]:
        rows = await services.list_for(db, principal(request).user_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createMyToken", opt={"permission": "authenticated"})
    async def create_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: TokenCreate
    ) -> TokenCreated:
        who = principal(request)
        services.check_mint(who, data.scopes)
        return await services.create(db, who.actor(request), who.user_id, data)

    @delete("/{token_id:str}", operation_id="revokeMyToken", opt={"permission": "authenticated"})
    async def revoke_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, token_id: str
    ) -> None:
        who = principal(request)
        await services.revoke(db, lp, who.actor(request), who.user_id, token_id)


class ServiceAccountTokenController(Controller):
    path = "/api/v1/users/{user_id:str}/tokens"
    tags = ["tokens"]

    @get("/", operation_id="listUserTokens", opt={"permission": "admin"})
    async def list_tokens(self, db: AsyncSession, user_id: str, paging: Paging) -> Page[TokenOut]:
        rows = await services.list_for(db, user_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createServiceAccountToken", opt={"permission": "admin"})
    async def create_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, user_id: str, data: TokenCreate
    ) -> TokenCreated:
        who = principal(request)
        services.check_mint(who, data.scopes)
        return await services.create(db, who.actor(request), user_id, data, service_account=True)

    @delete("/{token_id:str}", operation_id="revokeUserToken", opt={"permission": "admin"})
    async def revoke_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, user_id: str, token_id: str
    ) -> None:
        await services.revoke(db, lp, principal(request).actor(request), user_id, token_id)
