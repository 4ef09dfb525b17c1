"""API tokens: ``lp_`` + 256 random bits, stored as SHA-256, shown once.

A plain SHA-256 is enough here (unlike passwords): the token is random and long,
so there is nothing to guess, and a fast hash keeps each request cheap.

A token's ``scopes`` cap the role it acts with. A token can only mint tokens no
stronger than itself, so a leaked viewer token cannot become an editor one.
Tokens for service accounts are made and revoked by global admins; nobody mints
tokens for another person.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import ApiToken
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.auth.principals import ROLE_RANK, TOKEN_PREFIX, Principal, forget_token, hash_secret
from lakeplane.domain.tokens.schemas import TokenCreate, TokenCreated, TokenOut
from lakeplane.domain.users import services as users
from lakeplane.errors import NotFound, PermissionDenied, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow


def to_out(token: ApiToken | Row[Any]) -> TokenOut:
    now = utcnow()
    return resources.to_struct(
        TokenOut,
        token,
        scopes=list(token.scopes or []),
        active=token.revoked_at is None and (token.expires_at is None or token.expires_at > now),
    )


def _cap(scopes: Sequence[str]) -> int:
    """The rank a scope list allows; no scopes means no cap."""
    return max((ROLE_RANK.get(s, 0) for s in scopes), default=max(ROLE_RANK.values()) + 1)


def check_mint(principal: Principal, wanted: Sequence[str]) -> None:
    if principal.via == "token" and (_cap(wanted) > _cap(principal.scopes)):
        raise PermissionDenied("a token cannot create a token stronger than itself")


async def create(
    db: AsyncSession, actor: audit.Actor, owner_id: str, data: TokenCreate, *, service_account: bool = False
) -> TokenCreated:
    """Mint a token for ``owner_id``; with ``service_account``, only for a service account."""
    secret = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    now = utcnow()
    async with db.begin():
        owner = await users.get(db, owner_id)
        if service_account and not owner.is_service_account:
            raise ValidationFailed(
                "tokens are made for service accounts only; a person makes their own",
                [{"field": "user", "message": "not a service account"}],
            )
        if owner.disabled:
            raise ValidationFailed("the user is disabled", [{"field": "user", "message": "disabled"}])
        token = ApiToken(
            id=new_id("tok"),
            user_id=owner.id,
            name=data.name,
            token_hash=hash_secret(secret),
            prefix=secret[:10],
            scopes=sorted(set(data.scopes)),
            credential_epoch=owner.credential_epoch,
            expires_at=now + dt.timedelta(days=data.expires_in_days),
            created_at=now,
        )
        db.add(token)
        await db.flush()
        details = {
            "owner": owner.username,
            "name": token.name,
            "scopes": token.scopes,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        }
        await audit.record(db, actor, audit.Entry.on("token.create", token.id, details=details))
    return TokenCreated(token=secret, info=to_out(token))


async def list_for(db: AsyncSession, user_id: str, cursor: str | None, limit: int) -> Sequence[Row[Any]]:
    query = select_rows(ApiToken).where(ApiToken.user_id == user_id)
    return await fetch_page(db, query, ApiToken.id, cursor, limit, newest_first=True)


async def revoke(db: AsyncSession, lp: Services, actor: audit.Actor, user_id: str, token_id: str) -> None:
    """Revoke one of ``user_id``'s tokens; another user's token id is simply not found."""
    async with db.begin():
        token = await db.scalar(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id).with_for_update()
        )
        if token is None:
            raise NotFound("token not found")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
        await audit.record(db, actor, audit.Entry.on("token.revoke", token.id, details={"name": token.name}))
    forget_token(lp, token_id)
