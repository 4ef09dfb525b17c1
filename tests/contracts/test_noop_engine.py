"""The engine contract against the built-in ``noop`` engine.

Its cancellations live in the memory of one process, and it runs nothing it could
list, so it declares both gaps as capabilities rather than skipping the tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from lakeplane.builtins.noop import NoopEngine, NoopParams, NoopSpec
from lakeplane.testing.contracts.engine import EngineContract, JobFactory, JobKind

_JOBS = {
    "quick": NoopSpec(),
    "long": NoopSpec(delay_s=3600),
    "failing": NoopSpec(fail=True, message="failing on purpose"),
}


class TestNoopEngine(EngineContract):
    cancels_from_any_process: ClassVar[bool] = False
    lists_active_work: ClassVar[bool] = False

    @pytest_asyncio.fixture(loop_scope="session")
    async def engine(self) -> AsyncIterator[NoopEngine]:
        async with NoopEngine(NoopParams()) as engine:
            yield engine

    @pytest.fixture
    def job(self) -> JobFactory:
        def make(kind: JobKind) -> tuple[str, Any]:
            return "noop", _JOBS[kind]

        return make
