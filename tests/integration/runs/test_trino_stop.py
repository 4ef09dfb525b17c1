"""Stopping a Trino SQL run cancels the query in Trino itself, through a real worker process."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from lakeplane.domain.jobs.schemas import ParameterSpec
from lakeplane.domain.runs import services as runs

from .conftest import RunsEnv

LONG_SQL = (
    "SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 10000)) b(y) "
    "CROSS JOIN UNNEST(sequence(1, 10000)) c(z) WHERE x * y + z = :target"
)
FINAL = ("FINISHED", "FAILED")


async def trino_queries(trino_service: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{trino_service.url}/v1/query", headers={"X-Trino-User": trino_service.user}
        )
        answer.raise_for_status()
        return list(answer.json())


@pytest.mark.trino
async def test_stopping_a_run_cancels_its_trino_query(trino_env: RunsEnv, trino_service: Any) -> None:
    env = trino_env
    worker = env.start_worker("trino-worker", concurrency=2)
    conn_id = await env.trino_connection(trino_service)
    job_id = await env.job_with(
        {"sql": LONG_SQL},
        name=f"long-{secrets.token_hex(2)}",
        job_type="trino_sql",
        parameters=[ParameterSpec(name="target", type="integer", default=7)],
        connection_id=conn_id,
    )
    await worker.ready()
    (run_id,) = await env.submit(job_id, 1)

    async def query_running() -> bool:
        (run,) = await env.runs([run_id])
        if not run.engine_handle:
            return False
        return any(
            q["queryId"] == run.engine_handle["id"] and q["state"] not in FINAL
            for q in await trino_queries(trino_service)
        )

    await env.wait_for(query_running, 120, "the query to run in Trino")
    (run,) = await env.runs([run_id])
    query_id = run.engine_handle["id"]
    async with env.lp.sessions() as db:
        await runs.stop(db, env.actor, env.workspace_id, run_id)
    await env.wait_for(lambda: env.all_terminal([run_id]), 60, "the run to be cancelled")
    (run,) = await env.runs([run_id])
    assert run.state == "cancelled", (run.state, run.reason)

    async def query_gone() -> bool:
        return not any(
            q["queryId"] == query_id and q["state"] not in FINAL for q in await trino_queries(trino_service)
        )

    await env.wait_for(query_gone, 30, "Trino to drop the query")
    await env.check_invariants()
