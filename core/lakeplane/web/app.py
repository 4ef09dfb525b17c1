"""The Litestar application: every controller, the guard, problem documents, OpenAPI."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Receive, Scope, Send

from lakeplane import __version__, logs
from lakeplane.config import Config
from lakeplane.domain.audit.controllers import AuditController
from lakeplane.domain.auth.controllers import AuthController
from lakeplane.domain.catalog.controllers import CatalogController
from lakeplane.domain.connections.controllers import ConnectionController
from lakeplane.domain.datasets.controllers import DatasetController
from lakeplane.domain.jobs.controllers import JobController
from lakeplane.domain.runs.controllers import RunController
from lakeplane.domain.schedules.controllers import ScheduleController
from lakeplane.domain.system.controllers import SystemController
from lakeplane.domain.tokens.controllers import ServiceAccountTokenController, TokenController
from lakeplane.domain.users.controllers import MemberController, UserController
from lakeplane.domain.workspaces.controllers import WorkspaceController
from lakeplane.plugins import Plugins
from lakeplane.runtime import Services
from lakeplane.web.access import AccessLogMiddleware
from lakeplane.web.context import provide_caller, provide_workspace_context
from lakeplane.web.decoding import LakeplaneRequest
from lakeplane.web.guards import permission_guard
from lakeplane.web.openapi import complete as complete_openapi
from lakeplane.web.problems import EXCEPTION_HANDLERS
from lakeplane.web.state import close_request_session, provide_db, provide_paging, provide_services

log = logging.getLogger("lakeplane.web")

CORE_ROUTES: list[Any] = [
    SystemController,
    WorkspaceController,
    ConnectionController,
    CatalogController,
    DatasetController,
    JobController,
    RunController,
    ScheduleController,
    AuthController,
    UserController,
    MemberController,
    TokenController,
    ServiceAccountTokenController,
    AuditController,
]


class RequestIdMiddleware(ASGIMiddleware):
    """Give every request an id (or keep a sane one from ``X-Request-ID``) and echo it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        logs.request_id.set(request_id)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await next_app(scope, receive, send_with_id)


class RequestSessionMiddleware(ASGIMiddleware):
    """Close the request's database session if the handler did not (see :func:`request_session`):
    the guard opens it, and a handler without a ``db`` dependency or a refusal leaves it open."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await next_app(scope, receive, send)
        finally:
            await close_request_session(scope)


def http_metrics() -> Any:
    """Litestar's Prometheus middleware: requests, durations and errors by route template."""
    from litestar.plugins.prometheus import PrometheusConfig

    return PrometheusConfig(app_name="lakeplane", prefix="lakeplane", group_path=True).middleware


def create_app(
    config: Config, plugins: Plugins | None = None, extra_routes: list[Any] | None = None
) -> Litestar:
    lp = Services.build(config, plugins)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await lp.engine.dispose()

    routes = [*CORE_ROUTES, *lp.plugins.web_routes(), *(extra_routes or [])]
    # Plugins (the admin UI first of all) bring Jinja templates; autoescape is on.
    template_dirs: list[Path | os.PathLike[Any] | str] = [Path(d) for d in lp.plugins.template_dirs()]
    app = Litestar(
        route_handlers=[Router(path="/", route_handlers=routes)],
        guards=[permission_guard],
        dependencies={
            "lp": Provide(provide_services),
            "db": Provide(provide_db),
            "paging": Provide(provide_paging),
            "caller": Provide(provide_caller),
            "ctx": Provide(provide_workspace_context),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[
            RequestIdMiddleware(),
            *([AccessLogMiddleware()] if config.logging.access_log else []),
            *([http_metrics()] if config.metrics.enabled else []),
            RequestSessionMiddleware(),
        ],
        state=State({"lakeplane": lp}),
        lifespan=[lifespan],
        template_config=TemplateConfig(directory=template_dirs, engine=JinjaTemplateEngine)
        if template_dirs
        else None,
        request_class=LakeplaneRequest,
        request_max_body_size=config.server.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Lakeplane API",
            version=__version__,
            render_plugins=[JsonRenderPlugin()],
            openapi_router=Router(path="/api", route_handlers=[], opt={"permission": "public"}),
        ),
        debug=False,
        # Logging belongs to the process (lakeplane.logs: redacting handlers, JSON or text).
        logging_config=None,
    )
    complete_openapi(app)
    return app
