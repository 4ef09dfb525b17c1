"""A run the control plane thinks is running but whose engine work is lost: failed with reason ``lost``.

The worker holding the run dies and the engine no longer knows the work (a
coordinator restart, an engine that forgot it). The worker that adopts the run asks
the engine about the stored handle, hears ``lost``, fails the attempt with reason
``lost`` and applies the retry policy. The engine "forgetting" is made by giving the
dead worker's run a handle the engine never issued: the noop engine answers ``lost``
for such a handle, and a real Trino's ``/v1/query/<id>`` answers 404 for a query id
it never saw.
"""

from __future__ import annotations

import secrets
import signal
from typing import Any

import pytest
from sqlalchemy import select, update

from lakeplane.db.models import Run, RunLog, RunTransition
from lakeplane.worker.faults import EXIT_CODE

from .conftest import LEASE_S, RunsEnv


async def transitions_of(
    env: RunsEnv, run_id: str
) -> list[tuple[int, str | None, str, str | None, str | None]]:
    async with env.lp.sessions() as db:
        chain = (
            await db.scalars(
                select(RunTransition).where(RunTransition.run_id == run_id).order_by(RunTransition.id)
            )
        ).all()
    return [(t.attempt, t.from_state, t.to_state, t.worker, t.reason) for t in chain]


async def forget_engine_work(env: RunsEnv, run_ids: list[str], handle: dict[str, Any]) -> None:
    """The engine lost the work: the runs now point at a handle it never issued."""
    async with env.lp.sessions() as db, db.begin():
        result = await db.execute(
            update(Run).where(Run.id.in_(run_ids), Run.state == "running").values(engine_handle=handle)
        )
        assert result.rowcount == len(run_ids)  # type: ignore[attr-defined]


async def assert_lost_then_retried(env: RunsEnv, run_id: str, lost_by: str) -> None:
    """The run's first attempt, on worker ``lost_by``, was lost; the rescuer retried it to success."""
    chain = await transitions_of(env, run_id)
    assert [t[:4] for t in chain] == [
        (0, None, "queued", None),
        (1, "queued", "running", lost_by),
        (1, "running", "queued", "rescuer"),
        (2, "queued", "running", "rescuer"),
        (2, "running", "succeeded", "rescuer"),
    ]
    assert chain[2][4] is not None and "(lost)" in chain[2][4], chain[2]


async def test_lost_noop_work_fails_with_reason_lost_and_is_retried(runs_env: RunsEnv) -> None:
    env = runs_env
    first = env.start_worker("first", concurrency=4)
    retried_job = await env.job_with({"delay_s": 4.0}, max_attempts=2, retry_backoff_s=0.2)
    once_job = await env.job_with({"delay_s": 4.0}, max_attempts=1)
    await first.ready()
    (retried,) = await env.submit(retried_job)
    (once,) = await env.submit(once_job)

    await env.wait_for(
        lambda: env.held_by([retried, once], "first"), 30, "the first worker to start both runs"
    )
    first.signal(signal.SIGSTOP)  # at once, before the 4 s of work can end
    first.signal(signal.SIGKILL)
    await first.exited()
    assert await env.held_by([retried, once], "first"), [
        (r.state, r.reason) for r in await env.runs([retried, once])
    ]
    forgotten = f"noop-forgotten-{secrets.token_hex(3)}"
    await forget_engine_work(env, [retried, once], {"engine": "noop", "id": forgotten, "data": {}})
    rescuer = env.start_worker("rescuer", concurrency=4)
    await rescuer.ready()
    await env.wait_for(lambda: env.all_terminal([retried, once]), 4 * LEASE_S + 30, "the lost runs")

    runs_by_id = {r.id: r for r in await env.runs([retried, once])}
    assert (runs_by_id[once].state, runs_by_id[once].reason, runs_by_id[once].attempt) == (
        "failed",
        "lost",
        1,
    )
    assert await transitions_of(env, once) == [
        (0, None, "queued", None, "submitted"),
        (1, "queued", "running", "first", None),
        (1, "running", "failed", "rescuer", "lost"),
    ]
    assert (runs_by_id[retried].state, runs_by_id[retried].attempt) == ("succeeded", 2)
    await assert_lost_then_retried(env, retried, "first")
    assert all(r.stats.get("adoptions", 0) >= 1 for r in runs_by_id.values())
    async with env.lp.sessions() as db:
        lines = "".join((await db.scalars(select(RunLog.text).where(RunLog.run_id == once))).all())
    assert f"re-attached to engine work {forgotten}" in lines
    await env.check_invariants()


@pytest.mark.trino
async def test_trino_query_the_coordinator_does_not_know_is_lost_then_retried(
    trino_env: RunsEnv, trino_service: Any
) -> None:
    env = trino_env
    crashing = env.start_worker("crashing", concurrency=2, fault="after_handle")
    conn_id = await env.trino_connection(trino_service)
    job = await env.job_with(
        {"sql": "SELECT 42"},
        job_type="trino_sql",
        connection_id=conn_id,
        max_attempts=2,
        retry_backoff_s=0.2,
    )
    await crashing.ready()
    (run_id,) = await env.submit(job)
    assert await crashing.exited(120) == EXIT_CODE  # the handle is stored, the run is running
    (run,) = await env.runs([run_id])
    assert run.state == "running" and run.engine_handle and run.engine_handle["engine"] == "trino"
    # A query id of Trino's form that this coordinator never saw (as after its restart).
    never_seen = "20000101_000000_00000_" + secrets.token_hex(3)[:5]
    await forget_engine_work(env, [run_id], {**run.engine_handle, "id": never_seen})
    rescuer = env.start_worker("rescuer", concurrency=2)
    await rescuer.ready()
    await env.wait_for(lambda: env.all_terminal([run_id]), 4 * LEASE_S + 60, "the lost run to be retried")
    (run,) = await env.runs([run_id])
    assert (run.state, run.attempt, run.row_count) == ("succeeded", 2, 1), (run.state, run.reason)
    assert run.result_preview is not None and run.result_preview["rows"] == [[42]]
    await assert_lost_then_retried(env, run_id, "crashing")
    await env.check_invariants()
