"""Who is asking: principals, API-token and session lookups, the verified-token cache and
the role ranks. The web guard (:mod:`lakeplane.web.guards`) calls these; the domain's auth,
token and user services use them too, so none of them needs the web layer.

Verified tokens are cached per process for :data:`TOKEN_CACHE_SECONDS` so that a
token-authenticated request costs no database round trip. The process that revokes a token,
changes a role or bumps a user's ``credential_epoch`` drops the entries at once
(:func:`forget_token`, :func:`forget_user`); another API process may accept the old credential
for at most :data:`TOKEN_CACHE_SECONDS` more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import ApiToken, RoleBinding, User, UserSession, Workspace
from lakeplane.domain.audit import Actor
from lakeplane.runtime import Services

ROLE_RANK = {"viewer": 1, "editor": 2, "admin": 3}
TOKEN_PREFIX = "lp_"  # noqa: S105 - a marker, not a secret
#: How long another process may keep trusting a revoked token (see the module docstring).
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_MAX = 10_000
#: ``last_used_at`` and ``last_seen_at`` are written at most this often per credential.
TOUCH_INTERVAL = dt.timedelta(seconds=60)


@dataclasses.dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    is_admin: bool
    #: ``token`` or ``session``.
    via: str
    #: For a session: its id hash and CSRF token; for a token: its id.
    credential_id: str
    csrf_token: str | None = None
    #: Token scopes (a role name); empty for sessions.
    scopes: tuple[str, ...] = ()

    def actor(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
        return Actor(
            id=self.user_id,
            name=self.username,
            source_ip=client_ip(connection),
            request_id=connection.scope.get("state", {}).get("request_id"),
            is_admin=self.is_admin,
        )


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    client = connection.scope.get("client")
    return client[0] if client else None


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclasses.dataclass
class CachedToken:
    principal: Principal
    expires_at: dt.datetime | None
    cached_at: float
    last_used_at: dt.datetime | None


class TokenCache:
    """Verified tokens by hash. Holds no secrets: only the SHA-256 the database holds too."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, max_entries: int = TOKEN_CACHE_MAX) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.entries: dict[str, CachedToken] = {}
        #: Bumped by every ``forget_*``: a lookup that started before a revocation must
        #: not put its (possibly stale) result in the cache after the revocation ran.
        self.generation = 0

    def get(self, token_hash: str) -> CachedToken | None:
        entry = self.entries.get(token_hash)
        if entry is not None and time.monotonic() - entry.cached_at > self.ttl:
            self.entries.pop(token_hash, None)
            return None
        return entry

    def put(self, token_hash: str, entry: CachedToken, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[token_hash] = entry

    def forget(self, token_hash: str) -> None:
        self.entries.pop(token_hash, None)

    def forget_token(self, token_id: str) -> None:
        self.generation += 1
        for key, entry in list(self.entries.items()):
            if entry.principal.credential_id == token_id:
                del self.entries[key]

    def forget_user(self, user_id: str) -> None:
        self.generation += 1
        for key, entry in list(self.entries.items()):
            if entry.principal.user_id == user_id:
                del self.entries[key]


def token_cache(lp: Services) -> TokenCache:
    cache = lp.caches.get("tokens")
    if not isinstance(cache, TokenCache):
        cache = lp.caches["tokens"] = TokenCache()
    return cache


def forget_token(lp: Services, token_id: str) -> None:
    """Call after committing a token's revocation."""
    token_cache(lp).forget_token(token_id)


def forget_user(lp: Services, user_id: str) -> None:
    """Call after committing a change to a user's epoch, admin flag, roles or state."""
    token_cache(lp).forget_user(user_id)


#: The workspace named by id or slug; built once, as every workspace request runs it.
WORKSPACE_QUERY = select(Workspace).where(
    or_(Workspace.id == bindparam("ref"), Workspace.slug == bindparam("ref"))
)
#: The same and the caller's role in it, in one round trip.
WORKSPACE_ROLE_QUERY = WORKSPACE_QUERY.add_columns(RoleBinding.role).outerjoin(
    RoleBinding,
    (RoleBinding.workspace_id == Workspace.id) & (RoleBinding.user_id == bindparam("user_id")),
)


def scope_allows(principal: Principal, needed: str) -> bool:
    """A token limited to a role acts with at most that role."""
    if principal.via != "token" or not principal.scopes:
        return True
    best = max((ROLE_RANK.get(s, 0) for s in principal.scopes), default=0)
    if needed == "admin":
        return "admin" in principal.scopes
    return best >= ROLE_RANK[needed]


async def load_token(db: AsyncSession, token_hash: str, now: dt.datetime) -> CachedToken | None:
    row = (
        await db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == token_hash)
        )
    ).first()
    if row is None:
        return None
    token_row, user = row
    if (
        token_row.revoked_at is not None
        or (token_row.expires_at is not None and token_row.expires_at <= now)
        or user.disabled
        or token_row.credential_epoch != user.credential_epoch
    ):
        return None
    principal = Principal(
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        via="token",
        credential_id=token_row.id,
        scopes=tuple(token_row.scopes or ()),
    )
    return CachedToken(principal, token_row.expires_at, time.monotonic(), token_row.last_used_at)


async def touch_token(db: AsyncSession, token_id: str, now: dt.datetime) -> None:
    await db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    await db.commit()


async def session_principal(
    db: AsyncSession, cookie: str, idle: dt.timedelta, now: dt.datetime
) -> Principal | None:
    """The principal of a live session cookie; keeps the session's idle timer honest."""
    row = (
        await db.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.id == hash_secret(cookie))
        )
    ).first()
    if row is None:
        return None
    session, user = row
    if (
        session.expires_at <= now
        or session.last_seen_at + idle <= now
        or user.disabled
        or session.credential_epoch != user.credential_epoch
    ):
        return None
    if now - session.last_seen_at > dt.timedelta(seconds=30):
        await db.execute(update(UserSession).where(UserSession.id == session.id).values(last_seen_at=now))
        await db.commit()
    return Principal(
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        via="session",
        credential_id=session.id,
        csrf_token=session.csrf_token,
    )


async def workspace_role(
    db: AsyncSession, ws_ref: str, principal: Principal
) -> tuple[Workspace | None, str | None]:
    """The workspace named by id or slug and the caller's role in it (a global admin has
    ``admin`` everywhere), in one round trip."""
    if principal.is_admin:
        return await db.scalar(WORKSPACE_QUERY, {"ref": ws_ref}), "admin"
    row = (await db.execute(WORKSPACE_ROLE_QUERY, {"ref": ws_ref, "user_id": principal.user_id})).first()
    return (row[0], row[1]) if row is not None else (None, None)
