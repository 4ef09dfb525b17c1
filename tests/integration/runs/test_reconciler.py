"""The reconciler's engine side, with real worker processes and a real Trino.

The worker's sweep (one worker at a time, every
``lakeplane.worker.process.SWEEP_INTERVAL_S``) kills Trino queries tagged with a run
that has ended, that the control plane does not know, or whose attempt the run has
moved past, and leaves the work of queued and running runs alone: checked in Trino's
own query list. And while it waits on an
engine, the same worker must still adopt runs whose lease expired.
"""

from __future__ import annotations

import secrets
import signal
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from lakeplane.db.locks import WORKER_NAMESPACE as LOCK_NAMESPACE
from lakeplane.domain.runs import services as runs
from lakeplane.worker.process import SWEEP_INTERVAL_S

from .conftest import LEASE_S, make_env
from .test_trino_stop import FINAL, trino_queries

#: Blocks on its full output buffer once dispatched and nobody reads it: a long query costing no CPU.
BLOCKING_SQL = "SELECT x, y FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 10000)) b(y)"


#: Whether some session holds the engine sweep's advisory lock in this database.
SWEEP_LOCK_HELD = """
    SELECT count(*) > 0 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
    WHERE l.locktype = 'advisory' AND l.classid = :ns AND l.objid = 0 AND l.objsubid = 2
      AND l.granted AND d.datname = current_database()
"""


async def start_tagged_query(trino: Any, run_id: str, attempt: int | None = None) -> str:
    """A query in Trino tagged ``lakeplane-run=<run_id>`` (and the attempt), started outside Lakeplane; its id."""
    tags = f"lakeplane-run={run_id}" + ("" if attempt is None else f",lakeplane-attempt={attempt}")
    headers = {"X-Trino-User": trino.user, "X-Trino-Client-Tags": tags}
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(f"{trino.url}/v1/statement", content=BLOCKING_SQL, headers=headers)
        first.raise_for_status()
        page = first.json()
        # Trino dispatches a query when its first nextUri is fetched; after that nobody reads it.
        (await client.get(page["nextUri"], headers={"X-Trino-User": trino.user})).raise_for_status()
    return str(page["id"])


async def live_queries(trino: Any) -> dict[str, str]:
    """Query id -> state, for every query Trino has not finished."""
    return {q["queryId"]: q["state"] for q in await trino_queries(trino) if q["state"] not in FINAL}


@pytest.mark.trino
async def test_sweep_kills_trino_queries_of_ended_unknown_and_superseded_runs_only(
    postgres_service: Any, trino_service: Any, tmp_path: Path
) -> None:
    env = await make_env(postgres_service.url, tmp_path, engines={"trino": "trino"})
    survivors: list[str] = []
    try:
        # Serves ``default`` only, so a ``batch`` run stays queued for the whole test.
        worker = env.start_worker("sweeper", concurrency=4, queues=("default",))
        await env.trino_connection(trino_service)  # the sweep lists active work per engine connection
        quick = await env.job_with({})
        failing = await env.job_with({"fail": True})
        slow = await env.job_with({"delay_s": 300.0})
        parked = await env.job_with({}, queue="batch")
        await worker.ready()
        succeeded, failed, running = [(await env.submit(job))[0] for job in (quick, failing, slow)]
        queued, cancelled = await env.submit(parked, 2)
        async with env.lp.sessions() as db:
            await runs.stop(db, env.actor, env.workspace_id, cancelled)

        expected = {
            succeeded: "succeeded",
            failed: "failed",
            running: "running",
            queued: "queued",
            cancelled: "cancelled",
        }

        async def settled() -> bool:
            return {r.id: r.state for r in await env.runs(list(expected))} == expected

        await env.wait_for(settled, 60, "runs in each state")
        unknown = f"run_{secrets.token_hex(8)}"

        # The work of live runs first, so any sweep that sees a victim has seen these too.
        survivors = [await start_tagged_query(trino_service, r) for r in (running, queued)]
        survivors.append(await start_tagged_query(trino_service, running, attempt=1))  # its current attempt
        victims = {
            r: await start_tagged_query(trino_service, r) for r in (succeeded, failed, cancelled, unknown)
        }
        superseded = await start_tagged_query(trino_service, running, attempt=0)  # an attempt before this one
        assert set(survivors) <= set(await live_queries(trino_service))

        async def victims_gone() -> bool:
            return not {*victims.values(), superseded} & set(await live_queries(trino_service))

        await env.wait_for(victims_gone, 3 * SWEEP_INTERVAL_S + 30, "the sweep to kill the queries")
        live = await live_queries(trino_service)
        assert set(survivors) <= set(live), (survivors, live)
        # Killed, not ended by themselves: Trino records the cancellation.
        ended = {q["queryId"]: q for q in await trino_queries(trino_service)}
        for query_id in [*victims.values(), superseded]:
            assert ended[query_id]["state"] == "FAILED", ended[query_id]["state"]
            assert ended[query_id]["errorCode"]["name"] == "USER_CANCELED", ended[query_id].get("errorCode")
        for run_id, query_id in victims.items():
            assert f"cancelling engine work {query_id} of run {run_id}" in worker.log(), (
                run_id,
                worker.log()[-3000:],
            )
        assert f"of run {unknown}: no such run" in worker.log()
        assert f"engine work {superseded} of run {running}: attempt 0 was superseded" in worker.log()
        # The sweep touched only the engine: the runs it judged are as they were.
        assert await settled()
        await env.check_invariants()
    finally:
        async with httpx.AsyncClient() as client:
            for query_id in survivors:
                await client.delete(
                    f"{trino_service.url}/v1/query/{query_id}", headers={"X-Trino-User": trino_service.user}
                )
        env.stop_all()
        await env.lp.engine.dispose()


async def test_an_engine_that_does_not_answer_does_not_hold_up_adoption(
    postgres_service: Any, tmp_path: Path
) -> None:
    """The sweep waits on every engine connection; expired leases must still be adopted in time.

    The SIGKILL rule of the issue: runs of a dead worker are adopted within two lease
    timeouts, here while the only other worker's sweep waits on a coordinator that
    never answers (up to the engine's 30 s request timeout).
    """
    env = await make_env(postgres_service.url, tmp_path, engines={"trino": "trino"})
    # A coordinator that hangs: the kernel accepts connections on this socket, nothing ever answers.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    try:
        # The rescuer serves another queue, so it takes none of the runs; it starts first and so sweeps.
        rescuer = env.start_worker("rescuer", concurrency=4, queues=("bi",))
        await env.trino_connection(SimpleNamespace(host="127.0.0.1", port=hung.getsockname()[1], user="lp"))
        job = await env.job_with({"delay_s": 60.0})
        await rescuer.ready()

        async def sweeping() -> bool:
            async with env.lp.sessions() as db:
                held = await db.scalar(text(SWEEP_LOCK_HELD), {"ns": LOCK_NAMESPACE})
            return bool(held)

        await env.wait_for(sweeping, 30, "the rescuer's engine sweep to start")
        victim = env.start_worker("victim", concurrency=8)
        await victim.ready()
        ids = await env.submit(job, 4)

        await env.wait_for(lambda: env.held_by(ids, "victim"), 30, "the victim to hold the runs")
        victim.signal(signal.SIGKILL)
        await victim.exited()

        async def adopted() -> bool:
            return all(r.lease_owner == "rescuer" for r in await env.runs(ids))

        waited = await env.wait_for(adopted, 2 * LEASE_S + 1, "adoption while the sweep waits on the engine")
        assert waited <= 2 * LEASE_S + 1
        await env.check_invariants()
    finally:
        hung.close()
        env.stop_all()
        await env.lp.engine.dispose()
