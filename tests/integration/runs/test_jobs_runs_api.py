"""Jobs and runs through the HTTP API: validation, versions, idempotency, stop, rerun, logs, outage."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from lakeplane.db.models import Run

from .conftest import LEASE_S, RunsEnv


async def test_job_validation_versions_and_parameters(api: tuple[AsyncTestClient[Any], str]) -> None:
    client, ws = api
    bad = await client.post(f"{ws}/jobs", json={"name": "j", "type": "noop", "definition": {"delay_s": "x"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "definition.delay_s"
    unknown = await client.post(f"{ws}/jobs", json={"name": "j", "type": "noop", "definition": {"sql": "x"}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "definition.sql"
    queue = await client.post(
        f"{ws}/jobs", json={"name": "j", "type": "noop", "definition": {}, "queue": "nope"}
    )
    assert queue.status_code == 422
    params = [
        {"name": "day", "type": "date", "required": True},
        {"name": "n", "type": "integer", "default": 3},
        {"name": "tbl", "type": "identifier", "default": "sales.orders"},
    ]
    created = await client.post(
        f"{ws}/jobs", json={"name": "daily", "type": "noop", "definition": {}, "parameters": params}
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["current_version"] == 1 and job["version"]["definition"] == {}
    edited = await client.patch(f"{ws}/jobs/{job['id']}", json={"definition": {"delay_s": 0.1}})
    assert edited.json()["current_version"] == 2
    renamed = await client.patch(f"{ws}/jobs/{job['id']}", json={"name": "daily2"})
    assert renamed.json()["current_version"] == 2  # a rename is not a new definition
    versions = (await client.get(f"{ws}/jobs/{job['id']}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    v1 = await client.get(f"{ws}/jobs/{job['id']}/versions/1")
    assert v1.json()["definition"] == {}

    runs_url = f"{ws}/jobs/{job['id']}/runs"
    missing = await client.post(runs_url, json={"parameters": {}})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "parameters.day"
    wrong = await client.post(
        runs_url, json={"parameters": {"day": "2026-13-01", "n": "x", "tbl": "x; drop table y", "zz": 1}}
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {
        "parameters.day",
        "parameters.n",
        "parameters.tbl",
        "parameters.zz",
    }
    ok = await client.post(runs_url, json={"parameters": {"day": "2026-11-25", "n": "7"}})
    assert ok.status_code == 201, ok.text
    run = ok.json()
    assert run["parameters"] == {"day": "2026-11-25", "n": 7, "tbl": "sales.orders"}
    assert run["state"] == "queued" and run["job_version_id"] == edited.json()["version"]["id"]

    stopped = await client.post(f"{ws}/runs/{run['id']}/stop")
    assert stopped.status_code == 202 and stopped.json()["state"] == "cancelled"
    again = await client.post(f"{ws}/runs/{run['id']}/stop")
    assert again.json()["state"] == "cancelled"
    rerun = await client.post(f"{ws}/runs/{run['id']}/rerun", json={"parameters": {"n": 8}})
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["rerun_of"] == run["id"]
    assert rerun.json()["parameters"] == {"day": "2026-11-25", "n": 8, "tbl": "sales.orders"}

    detail = (await client.get(f"{ws}/runs/{run['id']}")).json()
    assert [(t["from_state"], t["to_state"]) for t in detail["transitions"]] == [
        (None, "queued"),
        ("queued", "cancelled"),
    ]
    cancelled = (await client.get(f"{ws}/runs", params={"state": "cancelled"})).json()["items"]
    assert [r["id"] for r in cancelled] == [run["id"]]
    by_job = (await client.get(f"{ws}/runs", params={"job_id": job["id"], "limit": 1})).json()
    assert len(by_job["items"]) == 1 and by_job["next_cursor"]
    later = (await client.get(f"{ws}/runs", params={"created_after": "2999-01-01T00:00:00Z"})).json()
    assert later["items"] == []
    assert (await client.get(f"{ws}/runs", params={"state": "nope"})).status_code == 422


async def test_100_concurrent_identical_submits_make_one_run(
    runs_env: RunsEnv, api: tuple[AsyncTestClient[Any], str]
) -> None:
    client, ws = api
    job = (await client.post(f"{ws}/jobs", json={"name": "idem", "type": "noop", "definition": {}})).json()
    headers = {"Idempotency-Key": "nightly-2026-11-25"}
    answers = await asyncio.gather(
        *(client.post(f"{ws}/jobs/{job['id']}/runs", json={}, headers=headers) for _ in range(100))
    )
    assert {a.status_code for a in answers} == {201}, {a.text for a in answers if a.status_code != 201}
    assert len({a.json()["id"] for a in answers}) == 1
    async with runs_env.lp.sessions() as db:
        count = await db.scalar(select(func.count()).select_from(Run).where(Run.job_id == job["id"]))
    assert count == 1
    await runs_env.check_invariants()


async def test_run_logs_tail_and_result(runs_env: RunsEnv, api: tuple[AsyncTestClient[Any], str]) -> None:
    client, ws = api
    worker = runs_env.start_worker(concurrency=4)
    await worker.ready()
    job = (await client.post(f"{ws}/jobs", json={"name": "logs", "type": "noop", "definition": {}})).json()
    run = (await client.post(f"{ws}/jobs/{job['id']}/runs", json={})).json()
    await runs_env.wait_for(lambda: runs_env.all_terminal([run["id"]]), 30, "the run")
    logs = (await client.get(f"{ws}/runs/{run['id']}/logs")).json()
    assert "submitted to noop" in logs["text"] and "ended: succeeded" in logs["text"]
    assert logs["complete"] is True
    tail = (await client.get(f"{ws}/runs/{run['id']}/logs", params={"offset": logs["offset"]})).json()
    assert tail["text"] == ""
    assert (await client.get(f"{ws}/runs/{run['id']}/result")).status_code == 404  # noop yields no rows


async def test_postgres_restart_under_100_inflight_runs(
    runs_env: RunsEnv, api: tuple[AsyncTestClient[Any], str], postgres_service: Any
) -> None:
    client, ws = api
    workers = [runs_env.start_worker(concurrency=64) for _ in range(2)]
    await asyncio.gather(*(w.ready() for w in workers))
    job = await runs_env.job(delay_s=30.0)
    ids = await runs_env.submit(job, 100)

    async def in_flight() -> bool:
        states = [r.state for r in await runs_env.runs(ids)]
        return states.count("running") >= 50 and set(states) <= {"queued", "running"}

    await runs_env.wait_for(in_flight, 60, "100 runs in flight, most of them running")
    postgres_service.stop()
    try:
        down = await client.get(f"{ws}/runs")
        assert down.status_code == 503, down.text
        assert down.json()["type"].endswith("service-unavailable")
        await asyncio.sleep(LEASE_S)
    finally:
        postgres_service.start()

    async def api_back() -> bool:
        return (await client.get(f"{ws}/runs", params={"limit": 1})).status_code == 200

    await runs_env.wait_for(api_back, 30, "the API to recover")
    await runs_env.wait_for(lambda: runs_env.all_terminal(ids), 180, "every run to finish after the restart")
    done = await runs_env.runs(ids)
    assert {r.state for r in done} == {"succeeded"}, [
        (r.state, r.reason) for r in done if r.state != "succeeded"
    ]
    assert all(w.proc.poll() is None for w in workers)  # the workers rode it out
    await runs_env.check_invariants()
