"""The local backend against a real SeaweedFS and a real spark-submit."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import msgspec
import pytest
from _spark_testing import needs_spark, put_object, write_job
from pyiceberg.catalog import load_catalog

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import EngineHandle, EngineState, EngineStatus, Submission
from lakeplane.testing.services import SeaweedFSService
from lakeplane_spark import SparkBatchSpec, SparkEngine, SparkParams
from lakeplane_spark.sample import INGEST_JOB, write_csv

pytestmark = [pytest.mark.spark, needs_spark]

RUN_TIMEOUT_S = 600


def submission(spec: SparkBatchSpec, run_id: str) -> Submission:
    return Submission(run_id=run_id, attempt=1, workspace="demo", job_type="spark_batch", spec=spec)


async def wait_terminal(engine: SparkEngine, handle: EngineHandle) -> EngineStatus:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = await engine.status(handle)
        if status.state.terminal:
            return status
        await asyncio.sleep(1.0)
    raise AssertionError(f"run {handle.id} did not finish in {RUN_TIMEOUT_S}s")


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


async def test_ingest_writes_the_table_and_counts_rejects_twice(
    engine: SparkEngine, spark_params: SparkParams, seaweedfs_service: SeaweedFSService, raw_bucket: str
) -> None:
    csv = io.StringIO()
    sample = write_csv(csv, rows=20_000, seed=7)
    source = await put_object(spark_params, "meter-readings/sample.csv", csv.getvalue().encode())
    job = await put_object(spark_params, "jobs/ingest_meter_readings.py", INGEST_JOB.read_bytes())
    spec = SparkBatchSpec(application=job, args=[source, "lake.energy.meter_readings"])

    for attempt in (1, 2):  # the second run replaces what the first wrote
        handle = await engine.submit(submission(spec, f"run_ingest_{attempt}"))
        # Another process only has the stored handle: answer from that alone.
        stored = msgspec.json.decode(msgspec.json.encode(handle), type=EngineHandle)
        async with SparkEngine(spark_params) as other:
            status = await wait_terminal(other, stored)

        assert status.state is EngineState.SUCCEEDED, status.message
        assert status.stats["rows_written"] == sample.good_rows
        assert status.stats["rows_rejected"] == sample.bad_rows
    catalog = load_catalog("lake", type="rest", **seaweedfs_service.pyiceberg_properties())
    table = catalog.load_table("energy.meter_readings")
    assert table.scan().to_arrow().num_rows == sample.good_rows
    assert [f.name for f in table.spec().fields] == ["ts_day", "region"]
    rejects = catalog.load_table("energy.meter_readings_rejects").scan().to_arrow()
    assert rejects.num_rows == sample.bad_rows

    log = await engine.logs(stored)
    assert "SparkContext" in log.text
    assert seaweedfs_service.secret_access_key not in log.text
    assert (await engine.list_active()) == []


async def test_stop_kills_the_whole_process_group(engine: SparkEngine, tmp_path: Path) -> None:
    app = write_job(
        tmp_path,
        "sleepy.py",
        "import time\nfrom pyspark.sql import SparkSession\n"
        "SparkSession.builder.getOrCreate().range(10).count()\n"
        "print('ready', flush=True)\ntime.sleep(3600)\n",
    )
    handle = await engine.submit(submission(SparkBatchSpec(application=app), "run_cancel"))
    pgid = int(handle.data["pgid"])
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while "ready" not in (await engine.logs(handle)).text:
        assert time.monotonic() < deadline, "the job never got going"
        assert (await engine.status(handle)).state is EngineState.RUNNING
        await asyncio.sleep(1.0)
    assert len(group_members(pgid)) >= 2  # the JVM and the Python driver at least
    assert [a.run_id for a in await engine.list_active()] == ["run_cancel"]

    await engine.cancel(handle)

    assert group_members(pgid) == []
    status = await engine.status(handle)
    assert status.state is EngineState.CANCELLED
    await engine.cancel(handle)  # cancelling finished work is not an error


async def test_a_job_that_raises_fails_with_the_driver_log_tail(engine: SparkEngine, tmp_path: Path) -> None:
    app = write_job(
        tmp_path,
        "broken.py",
        "from pyspark.sql import SparkSession\nSparkSession.builder.getOrCreate()\n"
        "raise RuntimeError('meter file is corrupt')\n",
    )
    handle = await engine.submit(submission(SparkBatchSpec(application=app), "run_fail"))
    status = await wait_terminal(engine, handle)
    assert status.state is EngineState.FAILED
    assert "RuntimeError: meter file is corrupt" in status.message
    assert status.stats["exit_code"] != 0


async def test_missing_application_file_is_refused(
    engine: SparkEngine, spark_params: SparkParams, raw_bucket: str, tmp_path: Path
) -> None:
    for application in (f"s3://{raw_bucket}/jobs/nope.py", f"local://{tmp_path}/nope.py"):
        with pytest.raises(ValidationFailed) as caught:
            await engine.submit(submission(SparkBatchSpec(application=application), "run_missing"))
        assert caught.value.extra["errors"][0]["field"] == "application"
        assert "does not exist" in caught.value.detail


async def test_status_of_an_unknown_run_is_lost(engine: SparkEngine, tmp_path: Path) -> None:
    handle = EngineHandle(
        engine="spark",
        id="gone",
        data={"backend": "local", "run_dir": str(tmp_path / "gone"), "pgid": os.getpid()},
    )
    assert (await engine.status(handle)).state is EngineState.LOST
