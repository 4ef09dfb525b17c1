"""Optimistic concurrency: GET and a successful PATCH answer an ETag; a PATCH or DELETE whose
If-Match is stale answers 412 and changes nothing; of two PATCHes made from one read, one wins."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from lakeplane.db.models import Connection, Dataset, Job, Schedule
from lakeplane.web.problems import PROBLEM


async def _workspace(client: Any) -> str:
    resp = await client.post("/api/v1/workspaces", json={"slug": "et-" + secrets.token_hex(4), "name": "e"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _job(client: Any, ws: str) -> str:
    resp = await client.post(
        f"/api/v1/workspaces/{ws}/jobs", json={"name": "tick", "type": "noop", "definition": {}}
    )
    assert resp.status_code == 201, resp.text
    return f"/api/v1/workspaces/{ws}/jobs/{resp.json()['id']}"


async def _connection(client: Any, ws: str) -> str:
    params = {
        "endpoint_url": "http://127.0.0.1:9",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "etag-secret-value",
        "region": "us-east-1",
    }
    resp = await client.post(
        f"/api/v1/workspaces/{ws}/connections",
        json={"name": "lake", "role": "object_store", "plugin": "s3", "params": params},
    )
    assert resp.status_code == 201, resp.text
    return f"/api/v1/workspaces/{ws}/connections/{resp.json()['id']}"


async def _dataset(client: Any, ws: str) -> str:
    resp = await client.post(
        f"/api/v1/workspaces/{ws}/datasets",
        json={"name": "ledger", "owner": "finance", "location": "s3://lake/ledger"},
    )
    assert resp.status_code == 201, resp.text
    return f"/api/v1/workspaces/{ws}/datasets/{resp.json()['id']}"


async def _schedule(client: Any, ws: str) -> str:
    job = (await _job(client, ws)).rsplit("/", 1)[1]
    resp = await client.post(f"/api/v1/workspaces/{ws}/schedules", json={"job_id": job, "cron": "0 * * * *"})
    assert resp.status_code == 201, resp.text
    url = f"/api/v1/workspaces/{ws}/schedules/{resp.json()['id']}"
    # The database is shared with the scheduler's tests: this schedule must never fire there.
    paused = await client.post(f"{url}/pause")
    assert paused.status_code == 200, paused.text
    return url


Make = Callable[[Any, str], Awaitable[str]]
#: resource: (how to make one, its model, the field a PATCH changes, two values for it, deletable)
RESOURCES: dict[str, tuple[Make, Any, str, tuple[str, str], bool]] = {
    "job": (_job, Job, "name", ("renamed", "renamed-again"), False),
    "connection": (_connection, Connection, "description", ("first", "second"), True),
    "dataset": (_dataset, Dataset, "description", ("first", "second"), True),
    "schedule": (_schedule, Schedule, "cron", ("5 * * * *", "10 * * * *"), True),
}
#: a resource just made: its URL, then its row of ``RESOURCES`` but for how to make one
Made = tuple[str, Any, str, tuple[str, str], bool]


async def _stored(lakeplane_services: Any, model: Any, url: str, field: str) -> Any:
    async with lakeplane_services.sessions() as db:
        return await db.scalar(select(getattr(model, field)).where(model.id == url.rsplit("/", 1)[1]))


def _assert_precondition_failed(resp: Any) -> None:
    assert resp.status_code == 412, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["type"].endswith("/precondition-failed") and body["status"] == 412
    assert "changed by someone else" in body["detail"]


@pytest.fixture(params=list(RESOURCES))
async def made(request: pytest.FixtureRequest, admin_client: Any) -> Made:
    """One resource of each kind of ``RESOURCES``, in a fresh workspace."""
    make, model, field, values, deletable = RESOURCES[request.param]
    url = await make(admin_client, await _workspace(admin_client))
    return url, model, field, values, deletable


async def test_stale_if_match_is_refused_and_changes_nothing(
    made: Made, admin_client: Any, lakeplane_services: Any
) -> None:
    url, model, field, (first, second), deletable = made
    read = await admin_client.get(url)
    assert read.status_code == 200, read.text
    tag = read.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and len(tag) > 10
    assert (await admin_client.get(url)).headers["etag"] == tag  # stable while nothing changes

    patched = await admin_client.patch(url, json={field: first}, headers={"If-Match": tag})
    assert patched.status_code == 200, patched.text
    fresh = patched.headers["etag"]
    assert fresh != tag
    assert (await admin_client.get(url)).headers["etag"] == fresh

    stale = await admin_client.patch(url, json={field: second}, headers={"If-Match": tag})
    _assert_precondition_failed(stale)
    weak = await admin_client.patch(url, json={field: second}, headers={"If-Match": f"W/{fresh}"})
    _assert_precondition_failed(weak)
    assert await _stored(lakeplane_services, model, url, field) == first
    assert (await admin_client.get(url)).headers["etag"] == fresh

    if deletable:
        refused = await admin_client.delete(url, headers={"If-Match": tag})
        _assert_precondition_failed(refused)
        assert await _stored(lakeplane_services, model, url, field) == first
        gone = await admin_client.delete(url, headers={"If-Match": f'"other", {fresh}'})
        assert gone.status_code == 204, gone.text
        assert (await admin_client.get(url)).status_code == 404
    else:
        # No If-Match keeps the unconditional update.
        plain = await admin_client.patch(url, json={field: second})
        assert plain.status_code == 200, plain.text
        assert await _stored(lakeplane_services, model, url, field) == second


async def _lock_waiters(lakeplane_services: Any) -> int:
    async with lakeplane_services.sessions() as db:
        found = await db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def test_of_two_concurrent_patches_from_one_read_exactly_one_wins(
    made: Made, admin_client: Any, lakeplane_services: Any
) -> None:
    url, model, field, (first, second), _ = made
    tag = (await admin_client.get(url)).headers["etag"]
    # Hold the row while both requests start, so both have read the same tag before either
    # writes: only the check made under the row lock tells them apart.
    async with lakeplane_services.sessions() as holder:
        async with holder.begin():
            await holder.execute(select(model).where(model.id == url.rsplit("/", 1)[1]).with_for_update())
            patches = [
                asyncio.ensure_future(admin_client.patch(url, json={field: value}, headers={"If-Match": tag}))
                for value in (first, second)
            ]
            for _ in range(600):
                if await _lock_waiters(lakeplane_services) >= 2 or any(p.done() for p in patches):
                    break
                await asyncio.sleep(0.05)
            assert not any(p.done() for p in patches), [p.result().text for p in patches if p.done()]
    answers = await asyncio.gather(*patches)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200)
    assert await _stored(lakeplane_services, model, url, field) == winner.json()[field]
    _assert_precondition_failed(next(a for a in answers if a.status_code == 412))
