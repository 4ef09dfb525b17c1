"""The worker against real Postgres and real worker processes: exactly once, crashes, pauses, faults."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest
from sqlalchemy import select

from lakeplane.db.models import RunLog, RunTransition
from lakeplane.domain.runs import services as runs
from lakeplane.worker.faults import EXIT_CODE, POINTS

from .conftest import LEASE_S, RunsEnv


async def submissions(env: RunsEnv, run_ids: list[str]) -> Counter[str]:
    """How many times each run was handed to the engine (one log line per engine submit)."""
    async with env.lp.sessions() as db:
        rows = await db.scalars(
            select(RunLog.run_id).where(RunLog.run_id.in_(run_ids), RunLog.text.contains("submitted to noop"))
        )
        return Counter(rows)


async def test_500_noop_runs_across_4_workers_run_exactly_once(runs_env: RunsEnv) -> None:
    env = runs_env
    workers = [env.start_worker(concurrency=16) for _ in range(4)]
    await asyncio.gather(*(w.ready() for w in workers))
    job = await env.job()
    ids = await env.submit(job, 500)
    await env.wait_for(lambda: env.all_terminal(ids), 120, "500 runs to finish")
    done = await env.runs(ids)
    assert Counter(r.state for r in done) == {"succeeded": 500}
    assert all(r.attempt == 1 for r in done)
    submitted = await submissions(env, ids)
    assert set(submitted) == set(ids) and set(submitted.values()) == {1}
    async with env.lp.sessions() as db:
        starts = (
            await db.execute(
                select(RunTransition.run_id, RunTransition.worker).where(RunTransition.to_state == "running")
            )
        ).all()
    assert Counter(run_id for run_id, _ in starts) == dict.fromkeys(ids, 1)
    assert len({worker for _, worker in starts}) == 4, Counter(worker for _, worker in starts)
    await env.check_invariants()


async def test_sigkill_worker_holding_20_runs(runs_env: RunsEnv) -> None:
    env = runs_env
    # The rescuer serves another queue, so it takes none of the runs; adoption spans queues.
    rescuer = env.start_worker("rescuer", concurrency=4, queues=("bi",))
    victim = env.start_worker("victim", concurrency=20)
    await asyncio.gather(victim.ready(), rescuer.ready())
    job = await env.job(delay_s=5 * LEASE_S)
    ids = await env.submit(job, 20)

    await env.wait_for(lambda: env.held_by(ids, "victim"), 20, "the victim to hold all 20 runs")
    victim.signal(signal.SIGKILL)
    await victim.exited()
    killed_at = time.monotonic()

    async def adopted_or_done() -> bool:
        return all(r.state != "running" or r.lease_owner == "rescuer" for r in await env.runs(ids))

    waited = await env.wait_for(adopted_or_done, 2 * LEASE_S + 1, "adoption")
    assert waited <= 2 * LEASE_S + 0.5
    await env.wait_for(lambda: env.all_terminal(ids), 30, "the adopted runs to finish")
    done = await env.runs(ids)
    assert Counter(r.state for r in done) == {"succeeded": 20}
    # Re-attached, not resubmitted: one engine submission and one attempt each.
    assert set((await submissions(env, ids)).values()) == {1}
    assert all(r.attempt == 1 and r.stats.get("adoptions", 0) >= 1 for r in done), [r.stats for r in done]
    assert time.monotonic() - killed_at < 4 * LEASE_S + 10
    await env.check_invariants()


async def test_paused_worker_cannot_overwrite_an_adopted_run(runs_env: RunsEnv) -> None:
    env = runs_env
    paused = env.start_worker("paused", concurrency=2)
    await paused.ready()
    job = await env.job(delay_s=1.5 * LEASE_S)
    (run_id,) = await env.submit(job, 1)

    async def handle_saved() -> bool:
        (run,) = await env.runs([run_id])
        return run.state == "running" and run.engine_handle is not None

    await env.wait_for(handle_saved, 20, "the first worker to start the run")
    paused.signal(signal.SIGSTOP)
    other = env.start_worker("other", concurrency=2)
    await other.ready()
    await env.wait_for(lambda: env.all_terminal([run_id]), 6 * LEASE_S + 5, "the other worker to finish it")
    paused.signal(signal.SIGCONT)
    await asyncio.sleep(LEASE_S * 1.5)  # the resumed worker polls, sees the work done, tries to record it
    assert "lease lost" in paused.log()
    async with env.lp.sessions() as db:
        chain = (
            await db.scalars(
                select(RunTransition).where(RunTransition.run_id == run_id).order_by(RunTransition.id)
            )
        ).all()
        late_lines = (
            await db.scalars(
                select(RunLog.text).where(RunLog.run_id == run_id, RunLog.text.contains("on paused"))
            )
        ).all()
    assert [(t.from_state, t.to_state, t.worker) for t in chain][1:] == [
        ("queued", "running", "paused"),
        ("running", "succeeded", "other"),
    ]
    assert len(late_lines) == 1  # the submit line written before the pause; nothing after
    await env.check_invariants()


@pytest.mark.parametrize("point", POINTS)
async def test_crash_at_each_fault_point(runs_env: RunsEnv, point: str) -> None:
    env = runs_env
    if point == "after_adopt":
        first = env.start_worker("first", concurrency=2)
        await first.ready()
    crashing = env.start_worker("crashing", concurrency=2, fault=point)
    await crashing.ready()
    delay = 30.0 if point == "after_cancel" else 0.5
    job = await env.job(delay_s=delay)
    if point == "after_adopt":
        crashing.signal(signal.SIGSTOP)  # let the first worker claim the run
    (run_id,) = await env.submit(job, 1)
    if point == "after_adopt":
        await env.wait_for(lambda: _running(env, run_id), 20, "first worker to hold the run")
        first.signal(signal.SIGKILL)
        crashing.signal(signal.SIGCONT)
    if point == "after_cancel":
        await env.wait_for(lambda: _running(env, run_id), 20, "the run to start")
        async with env.lp.sessions() as db:
            await runs.stop(db, env.actor, env.workspace_id, run_id)
    if point != "before_finish" or delay:
        assert await crashing.exited(6 * LEASE_S + 10) == EXIT_CODE
    healthy = env.start_worker("healthy", concurrency=2)
    await healthy.ready()
    await env.wait_for(lambda: env.all_terminal([run_id]), 4 * LEASE_S + 10, "recovery")
    (run,) = await env.runs([run_id])
    assert run.state == ("cancelled" if point == "after_cancel" else "succeeded"), (run.state, run.reason)
    assert run.attempt == 1
    await env.check_invariants()


async def _running(env: RunsEnv, run_id: str) -> bool:
    (run,) = await env.runs([run_id])
    return run.state == "running" and run.engine_handle is not None


async def test_sigterm_drains_running_attempts(runs_env: RunsEnv) -> None:
    env = runs_env
    worker = env.start_worker("draining", concurrency=8)
    await worker.ready()
    job = await env.job(delay_s=2.0)
    ids = await env.submit(job, 5)

    async def all_running() -> bool:
        return all(r.state == "running" and r.engine_handle for r in await env.runs(ids))

    await env.wait_for(all_running, 30, "the runs to start")
    later = await env.submit(job, 2)  # queued after the drain begins: left for another worker
    worker.signal(signal.SIGTERM)
    assert await worker.exited(30) == 0
    assert {r.state for r in await env.runs(ids)} == {"succeeded"}
    assert "draining" in worker.log()
    assert {r.state for r in await env.runs(later)} <= {"queued", "succeeded"}
    await env.check_invariants()
