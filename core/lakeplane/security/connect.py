"""The endpoint rule where connections are made: one adapter per HTTP client library.

Each adapter resolves the host through the process's :class:`EndpointGuard` at the
moment a connection is opened and connects to the address that was checked, so a
name cannot resolve to one address for the check and another for the connect.

==================  ==============================  ==================================
client              adapter                         used by
==================  ==============================  ==================================
httpx               :func:`guarded_httpx_transport` Trino, Spark and catalog checks
aiohttp             ``connect_aiohttp``             aiobotocore (S3), kubernetes_asyncio
requests / urllib3  ``connect_requests``            pyiceberg's REST session
==================  ==============================  ==================================

The aiohttp and requests adapters live in modules of their own
(:mod:`lakeplane.security.connect_aiohttp`, :mod:`lakeplane.security.connect_requests`),
so the core needs neither library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from lakeplane.security.endpoints import EndpointGuard, endpoint_guard

__all__ = ["GuardedNetworkBackend", "guarded_httpx_transport"]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard accepts."""

    def __init__(self, guard: EndpointGuard | None = None, inner: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    @property
    def guard(self) -> EndpointGuard:
        return self._guard or endpoint_guard()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.guard.aresolve(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} resolved to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_httpx_transport(guard: EndpointGuard | None = None, **kwargs: Any) -> httpx.AsyncHTTPTransport:
    """An ``httpx.AsyncHTTPTransport(**kwargs)`` whose connections go through the guard.

    Pass ``verify`` and ``limits`` here: a client given a transport ignores its own.
    """
    transport = httpx.AsyncHTTPTransport(**kwargs)
    # httpx takes no network backend of its own; its pool does.
    transport._pool._network_backend = GuardedNetworkBackend(guard)
    return transport
