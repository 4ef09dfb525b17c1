"""The worker's shared engines: one open engine per connection version, closed when replaced."""

from __future__ import annotations

import asyncio

from lakeplane.builtins.noop import NoopEngine, NoopParams
from lakeplane.worker.engines import Engines, Source


class CountingNoop(NoopEngine):
    opened = 0
    closed = 0

    async def open(self) -> None:
        type(self).opened += 1

    async def close(self) -> None:
        type(self).closed += 1


async def build() -> NoopEngine:
    return CountingNoop(NoopParams())


async def test_attempts_share_an_open_engine_until_its_connection_changes() -> None:
    CountingNoop.opened = CountingNoop.closed = 0
    engines = Engines()
    async with engines.borrow(Source("test", "conn-a", 1, build)) as first:
        async with engines.borrow(Source("test", "conn-a", 1, build)) as again:
            assert again is first
        async with engines.borrow(Source("test", "conn-b", 1, build)) as other:
            assert other is not first
        assert CountingNoop.opened == 2
        async with engines.borrow(Source("test", "conn-a", 2, build)) as edited:  # the connection was updated
            assert edited is not first
            assert CountingNoop.closed == 0  # the old version is still in use by the outer attempt
    assert CountingNoop.closed == 1  # ... and closes as soon as that attempt ends
    async with engines.borrow(Source("test", "conn-a", 2, build)) as reused:
        assert reused is edited
    await engines.close()
    assert (CountingNoop.opened, CountingNoop.closed) == (3, 3)


async def test_concurrent_first_borrows_open_one_engine() -> None:
    CountingNoop.opened = CountingNoop.closed = 0
    engines = Engines()

    async def use() -> NoopEngine:
        async with engines.borrow(Source("test", "conn", 1, build)) as engine:
            await asyncio.sleep(0.01)
            assert isinstance(engine, NoopEngine)
            return engine

    got = await asyncio.gather(*(use() for _ in range(10)))
    assert len({id(e) for e in got}) == 1
    assert CountingNoop.opened == 1
    await engines.close()
