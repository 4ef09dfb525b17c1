"""The endpoint guard for requests sessions (pyiceberg's REST catalog).

``session.mount("https://", GuardedHTTPAdapter())``: each new connection resolves its
host through the guard and dials the checked address; TLS still verifies the name.
"""

from __future__ import annotations

import socket
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lakeplane.security.endpoints import EndpointGuard, endpoint_guard

__all__ = ["GuardedHTTPAdapter"]


class GuardedHTTPAdapter(HTTPAdapter):
    """A requests transport adapter whose connections go through the guard."""

    def __init__(self, *args: Any, guard: EndpointGuard | None = None, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(*args, **kwargs)

    @property
    def guard(self) -> EndpointGuard:
        return self._guard or endpoint_guard()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self)


def _guarded_pools(adapter: GuardedHTTPAdapter) -> dict[str, type[Any]]:
    def connection(base: type[Any]) -> type[Any]:
        class Guarded(base):  # type: ignore[misc,valid-type]
            def _new_conn(self) -> socket.socket:
                # urllib3 dials ``_dns_host``; TLS and the Host header use ``host``, set apart.
                name: str = getattr(self, "_dns_host")  # noqa: B009 - set by urllib3
                last: OSError | None = None
                for address in adapter.guard.resolve(name, self.port):
                    self._dns_host = address
                    try:
                        return super()._new_conn()  # type: ignore[no-any-return]
                    except OSError as exc:
                        last = exc
                    finally:
                        self._dns_host = name
                raise last or OSError(f"{name} resolved to no address")

        return Guarded

    http = type(
        "GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": connection(HTTPConnection)}
    )
    https = type(
        "GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": connection(HTTPSConnection)}
    )
    return {"http": http, "https": https}
