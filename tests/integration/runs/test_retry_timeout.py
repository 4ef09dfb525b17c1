"""Retry policy, manual rerun and run timeout, through a real worker process and the REST API."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from lakeplane.testing.fixtures import add_job

from .conftest import RunsEnv, WorkerProcess

BACKOFF_S = 1.0
#: The worker stamps a failure's transition a moment after it computed the retry time.
STAMP_SLACK_S = 0.25


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def moves(run: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    return [(t["attempt"], t["from_state"], t["to_state"]) for t in run["transitions"]]


FAILED_THREE_TIMES = [
    (0, None, "queued"),
    (1, "queued", "running"),
    (1, "running", "queued"),
    (2, "queued", "running"),
    (2, "running", "queued"),
    (3, "queued", "running"),
    (3, "running", "failed"),
]


async def finished(env: RunsEnv, client: AsyncTestClient[Any], url: str, timeout: float) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    async def check() -> bool:
        answer.update((await client.get(url)).json())
        return answer["state"] in ("succeeded", "failed", "cancelled", "timed_out")

    await env.wait_for(check, timeout, f"{url} to finish")
    return answer


@pytest.fixture
def worker(runs_env: RunsEnv) -> WorkerProcess:
    """A worker of four slots, started: each test awaits its readiness once its jobs exist."""
    return runs_env.start_worker(concurrency=4)


async def test_failing_run_is_retried_with_exponential_backoff_then_rerun(
    runs_env: RunsEnv, api: tuple[AsyncTestClient[Any], str], worker: WorkerProcess
) -> None:
    env = runs_env
    client, ws = api
    failing = {"fail": True, "message": "boom"}
    job = await add_job(client, ws, "flaky", "noop", failing, max_attempts=3, retry_backoff_s=BACKOFF_S)
    await worker.ready()
    run = (await client.post(f"{ws}/jobs/{job['id']}/runs", json={})).json()
    url = f"{ws}/runs/{run['id']}"

    # Between attempts the run is queued again and says when and why it will be retried.
    between: dict[str, Any] = {}

    async def backing_off() -> bool:
        between.update((await client.get(url)).json())
        return between["state"] == "queued" and between["attempt"] >= 1

    await env.wait_for(backing_off, 30, "the first attempt to fail")
    assert between["next_attempt_at"] is not None and between["waiting_for"] is None
    assert "failed (boom); retry in" in between["reason"], between["reason"]

    done = await finished(env, client, url, 60)
    assert done["state"] == "failed" and done["reason"] == "boom", (done["state"], done["reason"])
    assert done["attempt"] == 3 and done["max_attempts"] == 3
    assert moves(done) == FAILED_THREE_TIMES
    chain = done["transitions"]
    for attempt in (1, 2):
        failed_at = at(chain[2 * attempt]["at"])
        retried_at = at(chain[2 * attempt + 1]["at"])
        backoff = BACKOFF_S * 2 ** (attempt - 1)
        gap = (retried_at - failed_at).total_seconds()
        assert backoff - STAMP_SLACK_S <= gap < backoff + 15, (attempt, gap, backoff)
        assert f"retry in {backoff:g} s" in chain[2 * attempt]["reason"]
    logs = (await client.get(f"{url}/logs")).json()["text"]
    assert logs.count("submitted to noop") == 3  # one engine submission per attempt

    # A manual rerun runs the original's version, not the job's edited one, with fresh attempts.
    edited = await client.patch(f"{ws}/jobs/{job['id']}", json={"definition": {}})
    assert edited.json()["current_version"] == 2
    rerun = await client.post(f"{url}/rerun", json={})
    assert rerun.status_code == 201, rerun.text
    again = rerun.json()
    assert again["rerun_of"] == run["id"] and again["id"] != run["id"]
    assert again["job_version_id"] == run["job_version_id"] != edited.json()["version"]["id"]
    assert again["state"] == "queued" and again["attempt"] == 0
    redone = await finished(env, client, f"{ws}/runs/{again['id']}", 60)
    assert redone["state"] == "failed" and moves(redone) == FAILED_THREE_TIMES
    assert redone["transitions"][0]["reason"] == "rerun"
    assert (await client.get(url)).json()["transitions"] == chain  # the original is untouched
    listed = (await client.get(f"{ws}/runs", params={"job_id": job["id"]})).json()["items"]
    assert {(r["id"], r["rerun_of"]) for r in listed} == {(run["id"], None), (again["id"], run["id"])}
    await env.check_invariants()


async def test_timed_out_and_stopped_runs_are_not_retried(
    runs_env: RunsEnv, api: tuple[AsyncTestClient[Any], str], worker: WorkerProcess
) -> None:
    env = runs_env
    client, ws = api
    timeout_s = 2.0
    slow = await env.job_with({"delay_s": 120.0}, timeout_s=timeout_s, max_attempts=3, retry_backoff_s=0.1)
    endless = await env.job_with({"delay_s": 120.0}, max_attempts=3, retry_backoff_s=0.1)
    failing = await env.job_with({"fail": True}, max_attempts=3, retry_backoff_s=60.0)
    await worker.ready()
    (timing_out,) = await env.submit(slow)
    submitted = time.monotonic()
    (stopped_running,) = await env.submit(endless)
    (stopped_backing_off,) = await env.submit(failing)

    # Stopped while running, and stopped while queued for its second attempt: cancelled, never retried.
    async def ready_to_stop() -> bool:
        by_id = {r.id: r for r in await env.runs([stopped_running, stopped_backing_off])}
        return (by_id[stopped_running].state, by_id[stopped_running].engine_handle is not None) == (
            "running",
            True,
        ) and (by_id[stopped_backing_off].state, by_id[stopped_backing_off].attempt) == ("queued", 1)

    await env.wait_for(ready_to_stop, 30, "one run running and one backing off")
    for run_id in (stopped_running, stopped_backing_off):
        assert (await client.post(f"{ws}/runs/{run_id}/stop")).status_code == 202

    done = await finished(env, client, f"{ws}/runs/{timing_out}", 60)
    waited = time.monotonic() - submitted
    assert done["state"] == "timed_out", (done["state"], done["reason"])
    assert done["reason"] == "the run exceeded its timeout"
    assert done["attempt"] == 1  # a timed-out run is not retried
    assert moves(done) == [(0, None, "queued"), (1, "queued", "running"), (1, "running", "timed_out")]
    started, ended = at(done["transitions"][1]["at"]), at(done["transitions"][2]["at"])
    ran = (ended - started).total_seconds()
    assert timeout_s <= ran < timeout_s + 15, ran
    assert timeout_s <= waited < 60
    deadline = at(done["deadline_at"])
    assert abs((deadline - started).total_seconds() - timeout_s) < 1.0, (deadline, started)
    logs = (await client.get(f"{ws}/runs/{timing_out}/logs")).json()["text"]
    assert "ended: timed_out: the run exceeded its timeout" in logs

    cancelled = await finished(env, client, f"{ws}/runs/{stopped_running}", 30)
    assert (cancelled["state"], cancelled["attempt"]) == ("cancelled", 1), cancelled["reason"]
    assert moves(cancelled)[-1] == (1, "running", "cancelled")
    dropped = await finished(env, client, f"{ws}/runs/{stopped_backing_off}", 30)
    assert (dropped["state"], dropped["attempt"], dropped["next_attempt_at"]) == ("cancelled", 1, None)
    assert moves(dropped)[-2:] == [(1, "running", "queued"), (1, "queued", "cancelled")]
    await asyncio.sleep(1.0)  # nothing brings them back
    states = {r.id: (r.state, r.attempt) for r in await env.runs([stopped_running, stopped_backing_off])}
    assert states == {stopped_running: ("cancelled", 1), stopped_backing_off: ("cancelled", 1)}
    await env.check_invariants()
