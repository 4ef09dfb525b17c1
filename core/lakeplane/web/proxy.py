"""The client's real address behind a reverse proxy.

``server.forwarded_allow_ips`` lists the proxies (addresses or CIDR ranges) whose
``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers are believed; uvicorn's proxy-headers
middleware then puts the client's address in the request scope, where the login throttle
and the audit log read it. The default list is empty: every peer is taken as the client,
and forwarded headers from anyone are ignored, so a client cannot choose its own address.
"""

from __future__ import annotations

from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from lakeplane.config import ServerConfig


def behind_proxy(app: Any, server: ServerConfig) -> Any:
    """``app``, trusting forwarded headers from ``server.forwarded_allow_ips`` only."""
    if not server.forwarded_allow_ips:
        return app
    return ProxyHeadersMiddleware(app, trusted_hosts=list(server.forwarded_allow_ips))
