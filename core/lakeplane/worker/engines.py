"""Open engines, shared by the attempts of one worker process.

Opening an engine can cost an HTTP client, a TLS context and a TCP connection; an
attempt that borrows an open one reaches the engine that much sooner. Engines are
keyed by the connection and the time it was last updated, so an edited connection
(new secrets included) gets a fresh engine while the old one closes as soon as the
attempts still using it end. The engines the config enables (for jobs without a
connection) are keyed by plugin. The attempts and the engine sweep borrow from the
same set; everything still open closes with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

import msgspec

from lakeplane.db.models import Connection
from lakeplane.domain.connections import services as connections
from lakeplane.interfaces import Engine
from lakeplane.plugins import Selected
from lakeplane.runtime import Services

log = logging.getLogger("lakeplane.worker")


@dataclasses.dataclass(frozen=True)
class Source:
    """Where an engine comes from, and so which open engine may serve it."""

    label: str
    #: The connection (or enabled engine) it is built from, whatever its version.
    family: Hashable
    version: Hashable
    build: Callable[[], Awaitable[Engine]]


def from_connection(lp: Services, conn: Connection) -> Source:
    """An engine connection, with its secrets, as last updated."""

    async def build() -> Engine:
        component = await connections.build(lp, conn)
        if not isinstance(component, Engine):
            raise TypeError(f"connection {conn.name} is not an engine")
        return component

    return Source(f"connection {conn.name}", ("connection", conn.id), conn.updated_at, build)


def from_config(selected: Selected) -> Source:
    """An engine the config enables, with its default parameters."""

    async def build() -> Engine:
        component = selected.create(msgspec.convert({}, selected.impl.cls.Params))
        if not isinstance(component, Engine):
            raise TypeError(f"plugin {selected.impl.name} is not an engine")
        return component

    return Source(selected.impl.name, ("config", selected.impl.name), None, build)


@dataclasses.dataclass
class _Open:
    engine: Engine
    #: Which connection (or default engine) it serves, whatever its version.
    family: Hashable
    users: int = 0
    stale: bool = False


class Engines:
    def __init__(self) -> None:
        self._open: dict[Hashable, _Open] = {}
        self._opening = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def borrow(self, source: Source) -> AsyncIterator[Engine]:
        """The open engine for ``source``, built and opened the first time."""
        key = (source.family, source.version)
        async with self._opening:
            entry = self._open.get(key)
            if entry is None:
                engine = await source.build()
                await engine.__aenter__()
                entry = self._open[key] = _Open(engine, source.family)
                for other_key, other in list(self._open.items()):
                    if other.family == source.family and other_key != key:
                        other.stale = True
                        await self._close_if_idle(other_key)
            entry.users += 1
        try:
            yield entry.engine
        finally:
            entry.users -= 1
            await self._close_if_idle(key)

    async def _close_if_idle(self, key: Hashable) -> None:
        entry = self._open.get(key)
        if entry is not None and entry.stale and entry.users == 0:
            del self._open[key]
            await _close(entry.engine)

    async def close(self) -> None:
        entries, self._open = list(self._open.values()), {}
        for entry in entries:
            await _close(entry.engine)


async def _close(engine: Engine) -> None:
    try:
        await engine.__aexit__(None, None, None)
    except Exception as exc:
        log.warning("closing engine %s failed: %s", engine.name, type(exc).__name__)
