"""The engine contract against a real Trino.

The jobs need no catalog, so any Trino will do: the long one is a cross join of
three ``UNNEST(sequence(...))`` (10^12 rows to filter, hours on a small machine),
the failing one calls ``fail()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from lakeplane.interfaces import EngineHandle
from lakeplane.testing.contracts.engine import EngineContract, JobFactory, JobKind, fixed_jobs
from lakeplane_trino import TrinoEngine, TrinoParams, TrinoSqlSpec

pytestmark = pytest.mark.trino

LONG_SQL = (
    "SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) "
    "CROSS JOIN UNNEST(sequence(1, 10000)) b(y) "
    "CROSS JOIN UNNEST(sequence(1, 10000)) c(z) "
    "WHERE x * y + z = 7"
)
_JOBS: dict[JobKind, TrinoSqlSpec] = {
    "quick": TrinoSqlSpec(sql="SELECT x, x * x AS square FROM UNNEST(sequence(1, 10)) t(x)"),
    "long": TrinoSqlSpec(sql=LONG_SQL),
    "failing": TrinoSqlSpec(sql="SELECT fail('lakeplane contract: failing on purpose')"),
}


class TestTrinoEngine(EngineContract):
    @pytest_asyncio.fixture(loop_scope="session")
    async def engine(self, trino_params: TrinoParams) -> AsyncIterator[TrinoEngine]:
        async with TrinoEngine(trino_params) as engine:
            yield engine

    @pytest.fixture
    def job(self) -> JobFactory:
        return fixed_jobs("trino_sql", _JOBS)

    @pytest.fixture
    def unknown_handle(self, engine: TrinoEngine) -> EngineHandle:
        """Shaped like a real query id, so the coordinator itself is asked and says 404/410."""
        return EngineHandle(engine="trino", id="20200101_000000_00000_lpctr")
