"""Health and plugin listing."""

from __future__ import annotations

import html
from typing import Any

from litestar import Controller, MediaType, Request, Response, get

from lakeplane import plugins as plugin_loading
from lakeplane.domain.system.services import readiness
from lakeplane.runtime import Services


class SystemController(Controller):
    tags = ["system"]

    @get("/health/live", operation_id="live", opt={"permission": "public"})
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/health/ready", operation_id="ready", opt={"permission": "public"})
    async def ready(self, lp: Services) -> Response[dict[str, Any]]:
        body = await readiness(lp)
        return Response(body, status_code=200 if body["status"] == "ok" else 503)

    @get("/api/docs", operation_id="apiDocs", media_type=MediaType.HTML, opt={"permission": "public"})
    async def docs(self, request: Request[Any, Any, Any]) -> str:
        """A plain page listing every operation; the machine-readable spec is /api/openapi.json."""
        schema = request.app.openapi_schema
        rows = []
        for path, item in sorted((schema.paths or {}).items()):
            for method in ("get", "post", "put", "patch", "delete"):
                operation = getattr(item, method, None)
                if operation is not None:
                    rows.append(
                        f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(operation.operation_id or '')}</td></tr>"
                    )
        return (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Lakeplane API</title>"
            "<h1>Lakeplane API v1</h1>"
            "<p>OpenAPI document: <a href=/api/openapi.json>/api/openapi.json</a></p>"
            f"<table><tr><th>Method</th><th>Path</th><th>Operation</th></tr>{''.join(rows)}</table></html>"
        )

    @get("/api/v1/plugins", operation_id="listPlugins", opt={"permission": "authenticated"})
    async def list_plugins(self, lp: Services) -> dict[str, Any]:
        return {"items": plugin_loading.describe(lp.plugins, lp.selection)}
