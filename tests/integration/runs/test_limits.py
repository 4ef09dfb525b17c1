"""Concurrency limits through real worker processes: per job, per workspace, per queue, and ``waiting_for``.

Each limit is checked twice: by counting running runs in the database every few
milliseconds while the runs go, and afterwards from the stored transitions (a run is
running from its ``queued -> running`` transition to the next one), which catches an
overlap however short. A start's transition is stamped after the claim counted the
running runs and an end's before its commit, so a start that came after an end
always sorts after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from lakeplane.db.models import Run, RunTransition, Workspace
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.domain.runs.services import submit_run
from lakeplane.ids import new_id

from .conftest import RunsEnv, api_client, make_env

Key = tuple[str, ...]


def keys_of(workspace_id: str, queue: str, job_id: str) -> list[Key]:
    """What a running run counts against: its job, its workspace's queue, its workspace, everything."""
    return [("job", job_id), ("queue", workspace_id, queue), ("workspace", workspace_id), ("all",)]


class Peaks:
    """The most runs seen running at once per key, sampled from the database while the block runs."""

    def __init__(self, env: RunsEnv) -> None:
        self.env = env
        self.peak: Counter[Key] = Counter()
        self.samples = 0

    async def _sample(self) -> None:
        query = select(Run.workspace_id, Run.queue, Run.job_id, func.count()).where(Run.state == "running")
        while True:
            async with self.env.lp.sessions() as db:
                rows = (await db.execute(query.group_by(Run.workspace_id, Run.queue, Run.job_id))).all()
            now: Counter[Key] = Counter()
            for workspace_id, queue, job_id, n in rows:
                for key in keys_of(workspace_id, queue, job_id):
                    now[key] += n
            for key, n in now.items():
                self.peak[key] = max(self.peak[key], n)
            self.samples += 1
            await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[Peaks]:
        task = asyncio.create_task(self._sample())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert self.samples > 10, self.samples


async def peaks_from_transitions(env: RunsEnv) -> Counter[Key]:
    """The most runs that were running at once per key, replayed from every stored transition."""
    async with env.lp.sessions() as db:
        runs = {r.id: r for r in (await db.scalars(select(Run))).all()}
        chain = (await db.scalars(select(RunTransition).order_by(RunTransition.at, RunTransition.id))).all()
    events: list[tuple[Any, int, str]] = []
    for t in chain:
        if t.to_state == "running":
            events.append((t.at, 1, t.run_id))
        elif t.from_state == "running":
            events.append((t.at, -1, t.run_id))
    events.sort(key=lambda e: (e[0], e[1]))  # at the same instant, ends first
    now: Counter[Key] = Counter()
    peak: Counter[Key] = Counter()
    for _, step, run_id in events:
        run = runs[run_id]
        for key in keys_of(run.workspace_id, run.queue, run.job_id):
            now[key] += step
            peak[key] = max(peak[key], now[key])
    return peak


async def started_at(env: RunsEnv, ids: list[str]) -> dict[str, Any]:
    """When each run first went from queued to running."""
    async with env.lp.sessions() as db:
        rows = (
            await db.execute(
                select(RunTransition.run_id, func.min(RunTransition.at))
                .where(RunTransition.run_id.in_(ids), RunTransition.to_state == "running")
                .group_by(RunTransition.run_id)
            )
        ).all()
    return dict(rows)


async def seen_waiting(
    env: RunsEnv, client: AsyncTestClient[Any], ws: str, ids: list[str], why: str, timeout: float = 30
) -> dict[str, Any]:
    """Poll ``GET /runs/{id}`` until one of ``ids`` is queued and says it waits for ``why``; return it."""
    found: dict[str, Any] = {}

    async def check() -> bool:
        for run in await env.runs(ids):
            if run.state != "queued" or run.waiting_for is None:
                continue
            answer = await client.get(f"{ws}/runs/{run.id}")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            if body["state"] == "queued" and body["waiting_for"] == why:
                found.update(body)
                return True
        return False

    await env.wait_for(check, timeout, f"a queued run waiting for {why}")
    return found


async def all_succeeded(env: RunsEnv, ids: list[str], timeout: float = 60) -> None:
    await env.wait_for(lambda: env.all_terminal(ids), timeout, f"{len(ids)} runs to finish")
    done = await env.runs(ids)
    assert Counter(r.state for r in done) == {"succeeded": len(ids)}, [(r.state, r.reason) for r in done]
    assert all(r.waiting_for is None for r in done), [r.waiting_for for r in done]


async def test_job_and_queue_limits_hold_and_a_full_queue_starves_no_other(
    runs_env: RunsEnv, api: tuple[AsyncTestClient[Any], str]
) -> None:
    env = runs_env  # queues: bi 8, batch 4, default 1000
    client, ws = api
    workers = [env.start_worker(concurrency=10) for _ in range(2)]
    limited = await env.job_with({"delay_s": 1.0}, max_concurrency=2)
    free = await env.job_with({"delay_s": 1.0})  # same queue as ``limited``, no limit of its own
    bi = await env.job_with({"delay_s": 1.5}, queue="bi")
    batch = await env.job_with({"delay_s": 0.5}, queue="batch")
    await asyncio.gather(*(w.ready() for w in workers))
    async with Peaks(env).sampling() as sampled:
        limited_ids = await env.submit(limited, 8)
        free_ids = await env.submit(free, 3)
        bi_ids = await env.submit(bi, 24)  # three waves of eight
        job_waiting = await seen_waiting(env, client, ws, limited_ids, "job_limit")
        queue_waiting = await seen_waiting(env, client, ws, bi_ids, "queue_full")
        submitted = time.monotonic()
        batch_ids = await env.submit(batch, 2)

        async def batch_done() -> bool:
            return {r.state for r in await env.runs(batch_ids)} == {"succeeded"}

        await env.wait_for(batch_done, 30, "the batch runs")
        batch_latency = time.monotonic() - submitted
        bi_still_queued = [r.id for r in await env.runs(bi_ids) if r.state == "queued"]
        await all_succeeded(env, limited_ids + free_ids + bi_ids + batch_ids)
    assert job_waiting["lease_owner"] is None and job_waiting["queue"] == "default"
    assert queue_waiting["queue"] == "bi"
    replayed = await peaks_from_transitions(env)
    for peak in (sampled.peak, replayed):
        assert peak[("job", limited)] == 2, peak
        assert peak[("queue", env.workspace_id, "bi")] == 8, peak
        assert peak[("queue", env.workspace_id, "batch")] <= 4, peak
    assert replayed[("job", free)] == 3, replayed  # not held back by the other job's limit
    # Batch work went ahead while the BI backlog was still waiting, not after it.
    assert bi_still_queued, "the BI backlog drained before the batch runs finished"
    starts = await started_at(env, bi_ids + batch_ids)
    assert max(starts[r] for r in batch_ids) < max(starts[r] for r in bi_ids)
    assert batch_latency < 10, batch_latency
    await env.check_invariants()


async def test_workspace_limit_spans_queues_and_stays_in_its_workspace(
    postgres_service: Any, tmp_path: Path
) -> None:
    env = await make_env(postgres_service.url, tmp_path, workspace_limit=3)
    try:
        worker = env.start_worker(concurrency=12)  # two workers share the claim lock: see the test above
        other_ws = new_id("ws")
        async with env.lp.sessions() as db, db.begin():
            db.add(Workspace(id=other_ws, slug=f"other-{secrets.token_hex(4)}", name="other"))
        async with env.lp.sessions() as db:
            other_job, _ = await jobs.create(
                db,
                env.lp,
                env.actor,
                other_ws,
                JobCreate(name="other", type="noop", definition={"delay_s": 1.0}),
            )
        default_job = await env.job_with({"delay_s": 1.0})
        bi_job = await env.job_with({"delay_s": 1.0}, queue="bi")
        await worker.ready()

        async def submit_other() -> list[str]:
            ids = []
            for _ in range(3):
                async with env.lp.sessions() as db:
                    ids.append((await submit_run(db, env.lp, env.actor, other_ws, other_job.id, {})).id)
            return ids

        async with api_client(env) as (client, ws), Peaks(env).sampling() as sampled:
            ids = await env.submit(default_job, 3) + await env.submit(bi_job, 3)
            other_ids = await submit_other()
            waiting = await seen_waiting(env, client, ws, ids, "workspace_limit")
            await all_succeeded(env, ids + other_ids)
        assert waiting["queue"] in ("default", "bi")
        replayed = await peaks_from_transitions(env)
        for peak in (sampled.peak, replayed):
            assert peak[("workspace", env.workspace_id)] == 3, peak
            assert peak[("workspace", other_ws)] <= 3, peak
        # The other workspace ran beside the full one: the limit is per workspace.
        assert replayed[("all",)] > 3, replayed
        await env.check_invariants()
    finally:
        env.stop_all()
        await env.lp.engine.dispose()
