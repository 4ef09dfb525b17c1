"""The endpoint guard for aiohttp clients (aiobotocore, kubernetes_asyncio).

aiohttp does not consult its resolver for an address written as a literal, so a
caller also checks the endpoint itself (:meth:`EndpointGuard.check` with
``resolve=False``) when it builds the client.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from lakeplane.security.endpoints import EndpointGuard, endpoint_guard

__all__ = ["GuardedResolver", "guard_connector"]


def guard_connector(connector: Any) -> None:
    """Send the connections of an aiohttp connector that a library built itself (as
    kubernetes_asyncio does, taking no resolver) through the guard. The caller checks the
    URL as written before it builds the client, since aiohttp skips its resolver for a
    literal address."""
    connector._resolver = GuardedResolver()


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver (``TCPConnector(resolver=...)``) answering only accepted addresses."""

    def __init__(self, guard: EndpointGuard | None = None) -> None:
        self._guard = guard

    @property
    def guard(self) -> EndpointGuard:
        return self._guard or endpoint_guard()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self.guard.aresolve(host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None
