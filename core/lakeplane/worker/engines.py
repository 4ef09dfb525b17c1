"""Open engines, shared by the attempts of one worker process.

Opening an engine can cost an HTTP client, a TLS context and a TCP connection; an
attempt that borrows an open one reaches the engine that much sooner. Engines are
keyed by the connection and the time it was last updated, so an edited connection
(new secrets included) gets a fresh engine while the old one closes as soon as the
attempts still using it end. The engines the config names for job types without a
connection are keyed by plugin. Everything still open closes with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Hashable

from lakeplane.interfaces import Engine

log = logging.getLogger("lakeplane.worker")


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
    async def borrow(
        self, family: Hashable, version: Hashable, build: Callable[[], Engine]
    ) -> AsyncIterator[Engine]:
        """The open engine for ``(family, version)``, opened with ``build`` the first time."""
        key = (family, version)
        async with self._opening:
            entry = self._open.get(key)
            if entry is None:
                engine = build()
                await engine.__aenter__()
                entry = self._open[key] = _Open(engine, family)
                for other_key, other in list(self._open.items()):
                    if other.family == family and other_key != key:
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
