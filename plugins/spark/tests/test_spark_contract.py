"""The core's engine contract, run against the local backend with real spark-submit.

The contract's jobs are Python files that start no SparkContext: spark-submit, the
wrapper, the process group and the log are the same as for a real job, without a
minute of Spark start-up per test. The real Spark work is in ``test_spark_local.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from _spark_testing import needs_spark

from lakeplane.testing.contracts.engine import EngineContract, JobKind
from lakeplane_spark import SparkBatchSpec, SparkEngine, SparkParams

JOBS = {
    "quick": "print('quick job done')\n",
    "long": "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n",
    "failing": "raise SystemExit('the contract asked this job to fail')\n",
}

pytestmark = [pytest.mark.spark, needs_spark]


class TestSparkLocalContract(EngineContract):
    # A JVM start on a busy two-core machine takes several seconds.
    settle_timeout_s: ClassVar[float] = 180.0

    @pytest_asyncio.fixture(loop_scope="session")
    async def engine(self, spark_params: SparkParams) -> AsyncIterator[SparkEngine]:
        async with SparkEngine(spark_params) as spark:
            yield spark

    @pytest.fixture(scope="class")
    def job(self, tmp_path_factory: pytest.TempPathFactory) -> Any:
        directory = tmp_path_factory.mktemp("contract-jobs")
        for kind, body in JOBS.items():
            (directory / f"{kind}.py").write_text(body)

        def make(kind: JobKind) -> tuple[str, SparkBatchSpec]:
            return "spark_batch", SparkBatchSpec(application=f"local://{Path(directory, kind)}.py")

        return make
