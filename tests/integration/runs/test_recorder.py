"""The worker's group commit, on a real Postgres: batched, but each write fenced and failing alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from lakeplane.db.models import AuditEvent, Run, RunLog
from lakeplane.domain.runs.lifecycle import Finish
from lakeplane.worker import queue
from lakeplane.worker.recorder import LeaseLost, Recorder, Write

from .conftest import RunsEnv


@pytest.fixture
async def recorder(runs_env: RunsEnv) -> AsyncIterator[Recorder]:
    recorder = Recorder(runs_env.lp, runs_env.actor)
    task = asyncio.create_task(recorder.run())
    yield recorder
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def claim_all(env: RunsEnv, count: int) -> list[queue.Lease]:
    await env.submit(await env.job(), count)
    async with env.lp.sessions() as db:
        return await queue.claim(
            db, env.actor, "test-worker", ["default"], count, 30, queue.Limits({"default": 1000}, 1000)
        )


def finish_write(lease: queue.Lease, state: str = "succeeded") -> Write:
    return Write(
        run_id=lease.run_id,
        workspace_id=lease.workspace_id,
        queue="default",
        attempt=lease.attempt,
        token=lease.token,
        worker="test-worker",
        lines=[f"{lease.run_id} done\n"],
        finish=Finish(state=state, reason=None, stats={}),
    )


async def test_writes_of_one_moment_commit_together_and_a_taken_over_run_fails_alone(
    runs_env: RunsEnv, recorder: Recorder
) -> None:
    leases = await claim_all(runs_env, 20)
    assert len(leases) == 20
    taken = leases[7]
    async with runs_env.lp.sessions() as db, db.begin():  # another worker adopted this one
        await db.execute(update(Run).where(Run.id == taken.run_id).values(lease_token="someone-else"))

    results = await asyncio.gather(
        *(recorder.write(finish_write(lease)) for lease in leases), return_exceptions=True
    )

    assert [type(r) for r in results].count(LeaseLost) == 1
    assert isinstance(results[7], LeaseLost)
    runs = {r.id: r for r in await runs_env.runs([lease.run_id for lease in leases])}
    assert runs[taken.run_id].state == "running"
    assert {r.state for i, r in runs.items() if i != taken.run_id} == {"succeeded"}
    async with runs_env.lp.sessions() as db:
        logged = set((await db.scalars(select(RunLog.run_id))).all())
        finished_events = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "run.transition", AuditEvent.details["to"].astext == "succeeded"
                )
            )
        ).all()
    assert taken.run_id not in logged
    assert len(logged) == 19
    assert len(finished_events) == 19
    # gathered at once, they were appended as one batch (one lock, one time stamp) rather than 19
    assert len({e.occurred_at for e in finished_events}) < 19
    await runs_env.check_invariants()


async def test_a_write_that_breaks_its_transaction_does_not_fail_its_neighbours(
    runs_env: RunsEnv, recorder: Recorder
) -> None:
    leases = await claim_all(runs_env, 6)
    writes = [finish_write(lease) for lease in leases]
    writes[2] = finish_write(leases[2], state="exploded")  # no such transition: the batch raises

    results = await asyncio.gather(*(recorder.write(w) for w in writes), return_exceptions=True)

    assert isinstance(results[2], AssertionError)
    assert [r for i, r in enumerate(results) if i != 2] == [None] * 5
    runs = {r.id: r.state for r in await runs_env.runs([lease.run_id for lease in leases])}
    assert runs.pop(leases[2].run_id) == "running"
    assert set(runs.values()) == {"succeeded"}
