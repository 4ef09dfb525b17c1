"""One guard decides every request: each route declares ``opt={"permission": ...}``.

Permissions, weakest first:

- ``public``: anyone (health, sign-in);
- ``authenticated``: any signed-in user or valid token;
- ``workspace:viewer`` / ``workspace:editor`` / ``workspace:admin``: that role or a
  stronger one in the workspace named by the ``ws`` path parameter (a global admin
  has every role);
- ``admin``: global administrators only.

A route without a declared permission is refused for everyone: forgetting to
declare one fails closed. Non-members asking for a workspace get 404, so
workspace names do not leak.

Credentials: ``Authorization: Bearer lp_...`` (an API token), a bearer JWT issued by
the identity provider when a redirect (OIDC) provider accepts those
(:mod:`lakeplane.domain.auth.bearer`), or the ``lakeplane_session`` cookie. A request authenticated by the cookie with an unsafe
method (POST, PUT, PATCH, DELETE) must also carry the session's CSRF token, in the
``X-CSRF-Token`` header or the ``csrf_token`` form field; bearer requests are
exempt, since a browser never adds that header on its own.

Verified tokens are cached per process for :data:`TOKEN_CACHE_SECONDS` so that a
token-authenticated request costs no database round trip. The process that
revokes a token, changes a role or bumps a user's ``credential_epoch`` drops the
entries at once (:func:`forget_token`, :func:`forget_user`); another API process
may accept the old credential for at most :data:`TOKEN_CACHE_SECONDS` more.
Expiry is checked on every request against the cached ``expires_at``.

The guard's lookups run on the request's own database session, which the handler's
``db`` gets too: a workspace read is one pooled connection, one transaction, and one
query for the workspace and the caller's role in it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import time
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane import logs
from lakeplane.audit import Actor
from lakeplane.db.engine import outage_as_503
from lakeplane.db.models import ApiToken, RoleBinding, User, UserSession, Workspace
from lakeplane.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from lakeplane.timeutil import utcnow
from lakeplane.web.state import REQUEST_SESSION, Services, request_session, services

ROLE_RANK = {"viewer": 1, "editor": 2, "admin": 3}
PERMISSIONS = frozenset(
    {"public", "authenticated", "workspace:viewer", "workspace:editor", "workspace:admin", "admin"}
)
SESSION_COOKIE = "lakeplane_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
TOKEN_PREFIX = "lp_"  # noqa: S105 - a marker, not a secret
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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


def permission_of(handler: BaseRouteHandler) -> str | None:
    permission = handler.opt.get("permission")
    return permission if isinstance(permission, str) else None


async def permission_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    permission = permission_of(handler)
    if permission not in PERMISSIONS:
        raise PermissionDenied("this route declares no permission")
    refuse_nul(connection)
    if permission == "public":
        return
    lp = services(connection.app.state)
    async with outage_as_503():
        # A token verified moments ago needs no database at all: the common case for
        # automation stays well under a millisecond.
        principal = cached_token_principal(connection, lp)
        if principal is None:
            principal = await resolve_principal(
                connection, request_session(connection.scope, connection.app.state)
            )
        if principal is None:
            raise NotAuthenticated("sign in or send a valid bearer token")
        connection.state.principal = principal
        logs.user_id.set(principal.user_id)
        await check_csrf(connection, principal)
        if permission.startswith("workspace:"):
            db = request_session(connection.scope, connection.app.state)
            await check_workspace_role(connection, db, principal, permission.split(":", 1)[1])
        elif permission == "admin" and (not principal.is_admin or not _scope_allows(principal, "admin")):
            raise PermissionDenied("administrators only")
        await end_guard_transaction(connection)


async def end_guard_transaction(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """The guard's lookups ran on the request's session (:func:`request_session`). A read
    (GET, HEAD, OPTIONS) goes on in that transaction; any other method gets a session with no
    transaction, for the handler to ``begin()`` its own."""
    db = connection.scope.get("state", {}).get(REQUEST_SESSION)
    if db is not None and db.in_transaction() and connection.scope.get("method", "GET") not in SAFE_METHODS:
        await db.rollback()


#: The workspace named by id or slug; built once, as every workspace request runs it.
WORKSPACE_QUERY = select(Workspace).where(
    or_(Workspace.id == bindparam("ref"), Workspace.slug == bindparam("ref"))
)
#: The same and the caller's role in it, in one round trip.
WORKSPACE_ROLE_QUERY = WORKSPACE_QUERY.add_columns(RoleBinding.role).outerjoin(
    RoleBinding,
    (RoleBinding.workspace_id == Workspace.id) & (RoleBinding.user_id == bindparam("user_id")),
)


async def check_workspace_role(
    connection: ASGIConnection[Any, Any, Any, Any], db: AsyncSession, principal: Principal, needed: str
) -> None:
    ws_ref = connection.path_params.get("ws")
    if not isinstance(ws_ref, str):
        raise PermissionDenied("workspace route without a workspace")
    workspace: Workspace | None
    role: str | None
    if principal.is_admin:
        workspace = await db.scalar(WORKSPACE_QUERY, {"ref": ws_ref})
        role = "admin"
    else:
        row = (await db.execute(WORKSPACE_ROLE_QUERY, {"ref": ws_ref, "user_id": principal.user_id})).first()
        workspace, role = (row[0], row[1]) if row is not None else (None, None)
    if workspace is None or role is None:
        raise NotFound(f"workspace {ws_ref!r} not found")
    db.expunge(workspace)  # stays readable whatever the handler does with the session
    if ROLE_RANK[role] < ROLE_RANK[needed] or not _scope_allows(principal, needed):
        raise PermissionDenied(f"this needs the {needed} role in workspace {workspace.slug}")
    connection.state.workspace = workspace
    connection.state.role = role


def cached_token_principal(connection: ASGIConnection[Any, Any, Any, Any], lp: Services) -> Principal | None:
    """The principal of a bearer token the cache vouches for, when nothing needs writing."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        return None
    entry = token_cache(lp).get(hash_secret(token.strip()))
    now = utcnow()
    if (
        entry is None
        or (entry.expires_at is not None and entry.expires_at <= now)
        or entry.last_used_at is None
        or now - entry.last_used_at > TOUCH_INTERVAL
    ):
        return None  # the full path decides, and forgets or touches as needed
    return entry.principal


def refuse_nul(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Postgres text cannot hold NUL: refuse it in the path and query before any lookup
    turns it into a database error."""
    if any("\x00" in value for value in connection.path_params.values() if isinstance(value, str)):
        raise NotFound("not found")
    if any("\x00" in value for _, value in connection.query_params.multi_items()):
        raise ValidationFailed("the query string holds a NUL character")


async def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], principal: Principal) -> None:
    """A cookie-authenticated unsafe request must prove it came from our own page."""
    method = connection.scope.get("method", "GET")
    if principal.via != "session" or method in SAFE_METHODS:
        return
    sent = connection.headers.get(CSRF_HEADER)
    if sent is None and isinstance(connection, Request):
        content_type = connection.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await connection.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PermissionDenied("missing or wrong CSRF token")


def _scope_allows(principal: Principal, needed: str) -> bool:
    """A token limited to a role acts with at most that role."""
    if principal.via != "token" or not principal.scopes:
        return True
    best = max((ROLE_RANK.get(s, 0) for s in principal.scopes), default=0)
    if needed == "admin":
        return "admin" in principal.scopes
    return best >= ROLE_RANK[needed]


async def resolve_principal(
    connection: ASGIConnection[Any, Any, Any, Any], db: AsyncSession
) -> Principal | None:
    cached = connection.scope.get("state", {}).get("principal")
    if isinstance(cached, Principal):
        return cached
    header = connection.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and not token.startswith(TOKEN_PREFIX) and token.count(".") == 2:
            from lakeplane.domain.auth.bearer import principal_from_jwt  # the domain layer maps IdP users

            lp = services(connection.app.state)
            anonymous = Actor(
                id=None,
                name="anonymous",
                source_ip=client_ip(connection),
                request_id=connection.scope.get("state", {}).get("request_id"),
            )
            found = await principal_from_jwt(lp, token, anonymous)
            if found is not None:
                return found
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            raise NotAuthenticated("the Authorization header must be 'Bearer lp_...'")
        return await principal_from_token(connection, db, token)
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie:
        return await principal_from_session(connection, db, cookie)
    return None


async def principal_from_token(
    connection: ASGIConnection[Any, Any, Any, Any], db: AsyncSession, token: str
) -> Principal | None:
    lp = services(connection.app.state)
    cache = token_cache(lp)
    token_hash = hash_secret(token)
    now = utcnow()
    entry = cache.get(token_hash)
    if entry is None:
        generation = cache.generation
        entry = await _load_token(db, token_hash, now)
        if entry is None:
            return None
        cache.put(token_hash, entry, generation)
    elif entry.expires_at is not None and entry.expires_at <= now:
        cache.forget(token_hash)
        return None
    if entry.last_used_at is None or now - entry.last_used_at > TOUCH_INTERVAL:
        entry.last_used_at = now
        await db.execute(
            update(ApiToken).where(ApiToken.id == entry.principal.credential_id).values(last_used_at=now)
        )
        await db.commit()
    return entry.principal


async def _load_token(db: AsyncSession, token_hash: str, now: dt.datetime) -> CachedToken | None:
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


async def principal_from_session(
    connection: ASGIConnection[Any, Any, Any, Any], db: AsyncSession, cookie: str
) -> Principal | None:
    lp = services(connection.app.state)
    now = utcnow()
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
    idle = dt.timedelta(minutes=lp.config.security.session_idle_minutes)
    if (
        session.expires_at <= now
        or session.last_seen_at + idle <= now
        or user.disabled
        or session.credential_epoch != user.credential_epoch
    ):
        return None
    if now - session.last_seen_at > dt.timedelta(seconds=30):  # keeps the idle timer honest
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


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    found = connection.state.get("principal")
    if not isinstance(found, Principal):
        raise NotAuthenticated("sign in or send a valid bearer token")
    return found


def workspace(connection: ASGIConnection[Any, Any, Any, Any]) -> Workspace:
    found = connection.state.get("workspace")
    if not isinstance(found, Workspace):
        raise NotFound("workspace not found")
    return found
