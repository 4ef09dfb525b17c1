"""The access log: one line per HTTP request on the ``lakeplane.access`` logger.

Method, path (never the query string, which may carry a secret), status, duration, and the
request and user id; in JSON mode the same under ``http``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from lakeplane import logs, timeutil

log = logging.getLogger("lakeplane.access")


class AccessLogMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, send_and_note)
        finally:
            elapsed_ms = timeutil.elapsed_ms(started)
            method = scope.get("method", "-")
            path = scope.get("path", "")
            log.info(
                "%s %s %d %.1fms",
                method,
                path,
                status,
                elapsed_ms,
                extra={
                    "http": {"method": method, "path": path, "status": status, "ms": round(elapsed_ms, 1)},
                    "user_id": logs.user_id.get(),
                },
            )
