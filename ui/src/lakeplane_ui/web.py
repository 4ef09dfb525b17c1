"""What every page shares: the router, rendering, CSRF, security headers, error pages.

Pages live under ``/ui``. Each view module in :mod:`lakeplane_ui.views` exposes
``CONTROLLERS``; a module whose domain services have not been installed is skipped,
so a page appears as soon as the service it shows exists.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from litestar import MediaType, Request, Response, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Workspace
from lakeplane.db.pagination import DEFAULT_LIMIT, Page
from lakeplane.domain.audit import Actor
from lakeplane.domain.auth.principals import Principal
from lakeplane.errors import NotAuthenticated
from lakeplane.runtime import Services
from lakeplane.web.guards import CSRF_FIELD, principal, workspace
from lakeplane.web.problems import EXCEPTION_HANDLERS, problem_for
from lakeplane_ui import filters

log = logging.getLogger("lakeplane.ui")

PREFIX = "/ui"
#: Double-submit cookie protecting the sign-in form, which comes before any session.
SIGNIN_CSRF_COOKIE = "lakeplane_signin_csrf"
#: Only a navigation preference: which workspace's menu to show on pages outside one.
LAST_WORKSPACE_COOKIE = "lakeplane_ui_ws"
STATIC = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

#: Rows a list page shows when the URL asks for no other number.
PAGE_SIZE = DEFAULT_LIMIT

VIEW_MODULES = ("auth", "home", "connections", "catalog", "jobs", "runs", "schedules", "admin", "health")


class SecurityHeadersMiddleware(ASGIMiddleware):
    """Security headers on every UI response; pages (not static files) are never cached."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        is_static = scope.get("path", "").startswith(f"{PREFIX}/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    h for h in message.get("headers", []) if h[0].lower() not in dict(SECURITY_HEADERS)
                ]
                headers += SECURITY_HEADERS
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_headers)


def principal_of(request: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    found = request.state.get("principal")
    return found if isinstance(found, Principal) else None


async def context(
    request: Request[Any, Any, Any], db: AsyncSession | None = None, **values: Any
) -> dict[str, Any]:
    """The values base.html needs: who is signed in, the workspace, its role, the CSRF token."""
    me = principal_of(request)
    ws = request.state.get("workspace")
    role = request.state.get("role")
    workspaces: list[Any] = []
    if me is not None and db is not None:
        from lakeplane.domain.workspaces import services as workspace_services

        rows = await workspace_services.list_for(db, me.user_id, me.is_admin, None, 100)
        workspaces = [workspace_services.to_out(w, r) for w, r in rows]
    # Pages outside a workspace (health, admin) keep the last workspace's navigation.
    remembered = request.cookies.get(LAST_WORKSPACE_COOKIE)
    nav_ws = ws or next((w for w in workspaces if w.slug == remembered), None)
    return {
        "me": me,
        "ws": ws,
        "nav_ws": nav_ws,
        "role": role,
        "can_edit": role in ("editor", "admin"),
        "is_ws_admin": role == "admin",
        "workspaces": workspaces,
        "csrf": (me.csrf_token if me else None) or "",
        "csrf_field": CSRF_FIELD,
        "path": request.url.path,
        "query": dict(request.query_params),
        "self_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **values,
    }


def render(name: str, ctx: dict[str, Any], status: int = 200) -> Template:
    return Template(template_name=name, context=ctx, status_code=status, media_type=MediaType.HTML)


async def page(
    request: Request[Any, Any, Any], db: AsyncSession | None, name: str, status: int = 200, **values: Any
) -> Template:
    filters.install(request.app.template_engine)
    ctx = await context(request, db, **values)
    response = render(name, ctx, status)
    ws = ctx["ws"]
    if ws is not None and request.cookies.get(LAST_WORKSPACE_COOKIE) != ws.slug:
        response.cookies.append(
            Cookie(key=LAST_WORKSPACE_COOKIE, value=ws.slug, path=PREFIX, httponly=True, samesite="lax")
        )
    return response


async def read_form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The posted form without its CSRF token (the permission guard has checked it).

    Repeated fields come back as lists.
    """
    form = await request.form()
    values: dict[str, Any] = {}
    for key in form:
        if key == CSRF_FIELD:
            continue
        got = form.getall(key)
        values[key] = got if len(got) > 1 else got[0]
    return values


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a page shows of the form it was sent: the fields as sent, each field's error, a
    message above the form, and the answer's status (422 refused, 412 read before a change)."""

    form: dict[str, Any] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    message: str = ""
    status: int = 200


#: A page shown with no form sent to it.
FRESH = Outcome()


@dataclasses.dataclass(frozen=True)
class View:
    """What a page handler works with: the ``view`` dependency of every UI route."""

    request: Request[Any, Any, Any]
    db: AsyncSession
    lp: Services

    @property
    def workspace(self) -> Workspace:
        """The workspace of a ``/w/{ws}`` page, as the permission guard found it."""
        return workspace(self.request)

    @property
    def principal(self) -> Principal:
        """The signed-in user (the permission guard has let them in)."""
        return principal(self.request)

    def actor(self) -> Actor:
        """The signed-in user, as the audit log records the change they make."""
        return self.principal.actor(self.request)

    async def form(self) -> dict[str, Any]:
        """The posted form, as :func:`read_form` reads it."""
        return await read_form(self.request)

    async def page(self, name: str, shown: Outcome = FRESH, **values: Any) -> Template:
        """The page ``name``, with the ``form``, ``errors`` and ``message`` of ``shown``."""
        return await page(
            self.request,
            self.db,
            name,
            shown.status,
            form=shown.form,
            errors=shown.errors,
            message=shown.message,
            **values,
        )

    async def paged(
        self, name: str, found: Page[Any], *, items: str, shown: Outcome = FRESH, **values: Any
    ) -> Template:
        """A list page: the rows of ``found`` named ``items``, with the pager's links under them."""
        return await self.page(name, shown, **{items: found.items}, **pager(self.request, found), **values)


async def provide_view(request: Request[Any, Any, Any], db: AsyncSession, lp: Services) -> View:
    return View(request, db, lp)


def see_other(url: str) -> Redirect:
    return Redirect(path=url, status_code=303)


def url(path: str, **query: Any) -> str:
    cleaned = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(cleaned)}" if cleaned else path


def new_signin_token() -> str:
    return secrets.token_urlsafe(32)


def _not_signed_in(request: Request[Any, Any, Any]) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = PREFIX + "/"
    return Redirect(path=f"{PREFIX}/signin?next={quote(target, safe='')}", status_code=303)


TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Not valid", 503: "Unavailable"}


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The problem the API would answer, as a page; a browser that is not signed in goes to sign in."""
    if isinstance(exc, NotAuthenticated) or (isinstance(exc, HTTPException) and exc.status_code == 401):
        return _not_signed_in(request)
    problem = problem_for(request, exc)
    status, body = problem.status_code or 500, problem.content
    detail = str(body["detail"])
    if isinstance(exc, HTTPException) and status >= 500:
        detail = "an internal error occurred"
    default = "Something went wrong" if status >= 500 else "Request failed"
    engine = request.app.template_engine
    assert engine is not None, "the admin UI needs the app's template engine"
    filters.install(engine)
    me = principal_of(request)
    html = engine.get_template("error.html").render(
        {
            "me": me,
            "ws": None,
            "workspaces": [],
            "status": status,
            "title": TITLES.get(status, default),
            "detail": detail,
            "csrf": (me.csrf_token if me else "") or "",
            "csrf_field": CSRF_FIELD,
            "path": request.url.path,
            "request_id": body.get("request_id"),
        }
    )
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=problem.headers)


def _root_redirect() -> Any:
    from litestar import get

    @get("/", opt={"permission": "public"}, include_in_schema=False)
    async def root() -> Redirect:
        return Redirect(path=f"{PREFIX}/", status_code=302)

    return root


def controllers() -> list[Any]:
    found: list[Any] = []
    for name in VIEW_MODULES:
        try:
            module = importlib.import_module(f"lakeplane_ui.views.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("lakeplane.domain"):
                log.info("ui: %s pages need %s, which is not installed", name, exc.name)
                continue
            raise
        found += module.CONTROLLERS
    return found


def ui_routes() -> list[Any]:
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        opt={"permission": "public"},
        include_in_schema=False,
        name="ui-static",
    )
    ui = Router(
        path=PREFIX,
        route_handlers=[static, *controllers()],
        dependencies={"view": Provide(provide_view)},
        middleware=[SecurityHeadersMiddleware()],
        # Every kind the app maps to a problem document, so none of its handlers answers a page.
        exception_handlers=dict.fromkeys(EXCEPTION_HANDLERS, error_page),
        include_in_schema=False,
    )
    return [ui, _root_redirect()]


def pager(request: Request[Any, Any, Any], found: Page[Any]) -> dict[str, Any]:
    """The cursor pager's links under ``found``, keeping every other query parameter."""
    kept = {k: v for k, v in request.query_params.items() if k != "cursor"}
    return {
        "next_cursor": found.next_cursor,
        "pager_first": url(request.url.path, **kept),
        "pager_next": url(request.url.path, **kept, cursor=found.next_cursor),
    }
