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

Verified tokens are cached per process (:mod:`lakeplane.domain.auth.principals`), and
expiry is checked on every request against the cached ``expires_at``.

The guard's lookups run on the request's own database session, which the handler's
``db`` gets too: a workspace read is one pooled connection, one transaction, and one
query for the workspace and the caller's role in it.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane import logs
from lakeplane.db.engine import outage_as_503
from lakeplane.db.models import Workspace
from lakeplane.domain.audit import Actor
from lakeplane.domain.auth.principals import (
    ROLE_RANK,
    TOKEN_PREFIX,
    TOUCH_INTERVAL,
    Principal,
    client_ip,
    hash_secret,
    load_token,
    scope_allows,
    session_principal,
    token_cache,
    touch_token,
    workspace_role,
)
from lakeplane.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow
from lakeplane.web.state import REQUEST_SESSION, request_session, services

PERMISSIONS = frozenset(
    {"public", "authenticated", "workspace:viewer", "workspace:editor", "workspace:admin", "admin"}
)
SESSION_COOKIE = "lakeplane_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
        elif permission == "admin" and (not principal.is_admin or not scope_allows(principal, "admin")):
            raise PermissionDenied("administrators only")
        await end_guard_transaction(connection)


async def end_guard_transaction(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """The guard's lookups ran on the request's session (:func:`request_session`). A read
    (GET, HEAD, OPTIONS) goes on in that transaction; any other method gets a session with no
    transaction, for the handler to ``begin()`` its own."""
    db = connection.scope.get("state", {}).get(REQUEST_SESSION)
    if db is not None and db.in_transaction() and connection.scope.get("method", "GET") not in SAFE_METHODS:
        await db.rollback()


async def check_workspace_role(
    connection: ASGIConnection[Any, Any, Any, Any], db: AsyncSession, principal: Principal, needed: str
) -> None:
    ws_ref = connection.path_params.get("ws")
    if not isinstance(ws_ref, str):
        raise PermissionDenied("workspace route without a workspace")
    workspace, role = await workspace_role(db, ws_ref, principal)
    if workspace is None or role is None:
        raise NotFound(f"workspace {ws_ref!r} not found")
    db.expunge(workspace)  # stays readable whatever the handler does with the session
    if ROLE_RANK[role] < ROLE_RANK[needed] or not scope_allows(principal, needed):
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
        entry = await load_token(db, token_hash, now)
        if entry is None:
            return None
        cache.put(token_hash, entry, generation)
    elif entry.expires_at is not None and entry.expires_at <= now:
        cache.forget(token_hash)
        return None
    if entry.last_used_at is None or now - entry.last_used_at > TOUCH_INTERVAL:
        entry.last_used_at = now
        await touch_token(db, entry.principal.credential_id, now)
    return entry.principal


async def principal_from_session(
    connection: ASGIConnection[Any, Any, Any, Any], db: AsyncSession, cookie: str
) -> Principal | None:
    idle = dt.timedelta(minutes=services(connection.app.state).config.security.session_idle_minutes)
    return await session_principal(db, cookie, idle, utcnow())


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
