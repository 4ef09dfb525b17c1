"""Health and plugin listing."""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from sqlalchemy import text

from lakeplane import plugins as plugin_loading
from lakeplane.runtime import Services
from lakeplane.timeutil import elapsed_ms

HEALTH_TIMEOUT_S = 3.0


async def database_health(lp: Services) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), lp.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"name": "database", "ok": True, "latency_ms": elapsed_ms(started)}
    except Exception as exc:
        return {
            "name": "database",
            "ok": False,
            "latency_ms": elapsed_ms(started),
            "error": type(exc).__name__,
        }


async def platform_object_store_health(lp: Services) -> dict[str, Any]:
    """The object store the platform itself uses (run logs), configured in ``[object_store.options]``."""
    from lakeplane.domain.runs.logstore import platform_store

    started = time.perf_counter()
    name = f"object_store:{lp.selection.object_store.impl.name}"
    if "bucket" not in lp.config.object_store.options:
        return {"name": name, "ok": True, "latency_ms": 0.0, "detail": "no platform store configured"}
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), platform_store(lp) as store:
            result = await store.health()
        entry: dict[str, Any] = {"name": name, "ok": result.ok, "latency_ms": elapsed_ms(started)}
        if not result.ok:
            entry["error"] = "; ".join(c.message for c in result.checks if c.message)[:300]
        return entry
    except Exception as exc:
        return {"name": name, "ok": False, "latency_ms": elapsed_ms(started), "error": type(exc).__name__}


async def readiness(lp: Services) -> dict[str, Any]:
    """Database and platform store checks plus the selected plugins: /health/ready and the health page."""
    checks = await asyncio.gather(database_health(lp), platform_object_store_health(lp))
    components = [
        *checks,
        *({"name": f"plugin:{s.key}", "ok": True, "loaded": s.impl.name} for s in lp.selection.all()),
    ]
    ok = all(c["ok"] for c in checks)
    return {"status": "ok" if ok else "unavailable", "components": components}


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
