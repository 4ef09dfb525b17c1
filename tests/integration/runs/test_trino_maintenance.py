"""``iceberg-maintenance`` jobs on a registered dataset, end to end.

Through the HTTP API, a real ``lakeplane worker`` and a real Trino on SeaweedFS:
expiry, optimize and orphan removal change the table's snapshots and its files on
S3; a legal hold set after the job was saved fails the run without touching the
table; a job that would expire snapshots younger than the retention policy is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session
from sqlalchemy import select

from lakeplane.db.models import Run, Schedule
from lakeplane.scheduler import Scheduler
from lakeplane.testing.fixtures import add_connection, created, iceberg_rest_params
from lakeplane_trino import TrinoEngine, TrinoParams

from .conftest import RunsEnv, api_client, trino_params

pytestmark = pytest.mark.trino
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


@pytest.fixture
async def trino(trino_service: Any) -> AsyncIterator[TrinoEngine]:
    async with TrinoEngine(TrinoParams(**trino_params(trino_service))) as engine:
        yield engine


async def snapshots(trino: TrinoEngine, schema: str) -> int:
    found = await trino.execute(f'SELECT count(*) FROM iceberg.{schema}."events$snapshots"')
    return int(found.rows[0][0])


@contextlib.asynccontextmanager
async def s3(sw: Any) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "s3",
        endpoint_url=sw.s3_endpoint,
        region_name=sw.region,
        aws_access_key_id=sw.access_key_id,
        aws_secret_access_key=sw.secret_access_key,
    ) as client:
        yield client


def split(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    return bucket, prefix.rstrip("/") + "/data/"


async def data_files(sw: Any, location: str) -> set[str]:
    bucket, prefix = split(location)
    found: set[str] = set()
    async with s3(sw) as client:
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found |= {item["Key"] for item in page.get("Contents", [])}
    return found


async def test_maintenance_jobs_act_on_the_table_and_honour_hold_and_policy(
    trino_env: RunsEnv, trino: TrinoEngine, trino_service: Any, seaweedfs_service: Any
) -> None:
    schema = f"maint_{secrets.token_hex(4)}"
    await trino.execute(f"CREATE SCHEMA iceberg.{schema}")
    await trino.execute(
        f"CREATE TABLE iceberg.{schema}.events AS SELECT * FROM (VALUES (1, 'a')) AS t(id, kind)"
    )
    for n in range(2, 5):
        await trino.execute(f"INSERT INTO iceberg.{schema}.events VALUES ({n}, 'k{n}')")
    assert await snapshots(trino, schema) == 4

    worker = trino_env.start_worker("trino-maint", concurrency=2)
    async with api_client(trino_env) as (client, ws):
        sw = seaweedfs_service
        catalog = iceberg_rest_params(sw)
        lake = await add_connection(client, ws, "lake", "catalog", "iceberg-rest", catalog)
        params = {**trino_params(trino_service), "catalog": "iceberg"}
        engine = await add_connection(client, ws, "trino", "engine", "trino", params)
        dataset = await created(
            client,
            f"{ws}/datasets",
            {
                "name": "events",
                "owner": "ops",
                "connection_id": lake["id"],
                "namespace": [schema],
                "table": "events",
            },
        )
        location = dataset["location"]

        async def make_job(name: str, definition: dict[str, Any]) -> Any:
            return await client.post(
                f"{ws}/jobs",
                json={
                    "name": name,
                    "type": "iceberg-maintenance",
                    "definition": {"dataset_id": dataset["id"], **definition},
                    "connection_id": engine["id"],
                },
            )

        async def run(job: Any) -> dict[str, Any]:
            started = await client.post(f"{ws}/jobs/{job.json()['id']}/runs", json={})
            assert started.status_code == 201, started.text
            run_id = started.json()["id"]

            async def finished() -> bool:
                return all(r.state in TERMINAL for r in await trino_env.runs([run_id]))

            await trino_env.wait_for(finished, 180, "the maintenance run to finish")
            answer: dict[str, Any] = (await client.get(f"{ws}/runs/{run_id}")).json()
            return answer

        expire = await make_job(
            "expire", {"action": "expire_snapshots", "older_than_days": 0, "keep_last": 2}
        )
        assert expire.status_code == 201, expire.text
        await worker.ready()

        # A hold set after the job was saved fails the run and leaves the table alone.
        hold_url = f"{ws}/datasets/{dataset['id']}/legal-hold"
        assert (await client.put(hold_url, json={"reason": "audit 2026-9"})).status_code == 200
        held = await run(expire)
        assert held["state"] == "failed", held
        assert "legal hold (audit 2026-9)" in held["reason"], held
        assert await snapshots(trino, schema) == 4
        refused = await make_job("expire-held", {"action": "expire_snapshots", "older_than_days": 0})
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.delete(hold_url)).status_code in (200, 204)

        # keep_last spares the newest two, and (by a margin of a minute) all as young as they.
        done = await run(expire)
        assert done["state"] == "succeeded", done
        assert await snapshots(trino, schema) == 4

        # optimize merges the data files into one.
        before = await data_files(sw, location)
        assert len(before) == 4, before
        optimize = await make_job("optimize", {"action": "optimize"})
        assert optimize.status_code == 201, optimize.text
        assert (await run(optimize))["state"] == "succeeded"
        files = await trino.execute(f'SELECT file_path FROM iceberg.{schema}."events$files"')
        referenced = {path.removeprefix("s3://").partition("/")[2] for (path,) in files.rows}
        assert len(referenced) == 1 and not (referenced & before), (referenced, before)
        squash = await make_job(
            "squash", {"action": "expire_snapshots", "older_than_days": 0, "keep_last": 1}
        )
        assert (await run(squash))["state"] == "succeeded"
        assert await snapshots(trino, schema) == 1
        rows = await trino.execute(f"SELECT count(*) FROM iceberg.{schema}.events")
        assert rows.rows == [[4]]

        # Files no snapshot references any more go with remove_orphan_files: the
        # replaced ones and a stray file under the table's data directory.
        bucket, prefix = split(location)
        stray = f"{prefix}stray-{secrets.token_hex(3)}.parquet"
        async with s3(sw) as s3_client:
            await s3_client.put_object(Bucket=bucket, Key=stray, Body=b"not referenced")
        on_s3 = await data_files(sw, location)
        assert stray in on_s3 and referenced < on_s3
        orphans = await make_job("orphans", {"action": "remove_orphan_files", "older_than_days": 0})
        assert (await run(orphans))["state"] == "succeeded"
        assert await data_files(sw, location) == referenced
        rows = await trino.execute(f"SELECT count(*) FROM iceberg.{schema}.events")
        assert rows.rows == [[4]]

        # A cron schedule runs the maintenance job by itself: one tick at the slot fires a run.
        await trino.execute(f"INSERT INTO iceberg.{schema}.events VALUES (5, 'k5')")
        assert await snapshots(trino, schema) == 2
        nightly = await make_job(
            "nightly", {"action": "expire_snapshots", "older_than_days": 0, "keep_last": 1}
        )
        assert nightly.status_code == 201, nightly.text
        schedule = await client.post(
            f"{ws}/schedules",
            json={"job_id": nightly.json()["id"], "cron": "0 3 * * *", "misfire_policy": "all"},
        )
        assert schedule.status_code == 201, schedule.text
        async with trino_env.lp.sessions() as db:
            slot = await db.scalar(select(Schedule.next_fire_at).where(Schedule.id == schedule.json()["id"]))
        assert slot is not None
        assert await Scheduler(trino_env.lp, lambda: slot + dt.timedelta(seconds=1)).tick() == 1
        async with trino_env.lp.sessions() as db:
            fired = (await db.scalars(select(Run.id).where(Run.schedule_id == schedule.json()["id"]))).all()
        assert len(fired) == 1
        # The database is shared with later tests: this schedule must fire nothing more.
        gone = await client.delete(f"{ws}/schedules/{schedule.json()['id']}")
        assert gone.status_code == 204, gone.text

        async def fired_finished() -> bool:
            return all(r.state in TERMINAL for r in await trino_env.runs(list(fired)))

        await trino_env.wait_for(fired_finished, 180, "the scheduled maintenance run to finish")
        (scheduled,) = await trino_env.runs(list(fired))
        assert scheduled.state == "succeeded", scheduled.reason
        assert await snapshots(trino, schema) == 1

        # A retention policy refuses expiry of snapshots younger than it allows, at save time.
        policy = await client.put(
            f"{ws}/datasets/{dataset['id']}/retention",
            json={"expire_older_than_days": 3, "keep_last": 1, "orphan_older_than_days": 3},
        )
        assert policy.status_code == 200, policy.text
        young = await make_job("too-young", {"action": "expire_snapshots", "older_than_days": 1})
        assert young.status_code == 422, young.text
        assert "retention policy" in young.json()["detail"]
        by_policy = await make_job("by-policy", {"action": "expire_snapshots"})
        assert by_policy.status_code == 201, by_policy.text
        assert (await run(by_policy))["state"] == "succeeded"
        assert await snapshots(trino, schema) == 1  # nothing is three days old
        # ...and again when a run starts, for a job saved before the policy.
        late = await run(squash)
        assert late["state"] == "failed" and "retention policy" in late["reason"], late

    with contextlib.suppress(Exception):
        await trino.execute(f"DROP TABLE iceberg.{schema}.events")
        await trino.execute(f"DROP SCHEMA iceberg.{schema}")
    await trino_env.check_invariants()
