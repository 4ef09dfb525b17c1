"""Postgres stopped mid-test: requests get 503 quickly, and service resumes by itself."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest


def connections_of(workspace: dict[str, Any]) -> str:
    return f"/api/v1/workspaces/{workspace['id']}/connections"


@pytest.fixture
async def workspace(admin_client: Any) -> dict[str, Any]:
    """A fresh workspace whose connections list answers while the database is up."""
    ws = await admin_client.post(
        "/api/v1/workspaces", json={"slug": "pg-" + secrets.token_hex(3), "name": "outage"}
    )
    assert ws.status_code == 201
    assert (await admin_client.get(connections_of(ws.json()))).status_code == 200
    return dict(ws.json())


@pytest.mark.outage
async def test_database_outage_gives_503_then_recovers(
    admin_client: Any, postgres_service: Any, workspace: dict[str, Any]
) -> None:
    url = connections_of(workspace)

    await asyncio.to_thread(postgres_service.stop)
    try:
        for path in (url, "/api/v1/workspaces", "/health/ready"):
            started = time.monotonic()
            resp = await admin_client.get(path)
            elapsed = time.monotonic() - started
            assert resp.status_code == 503, (path, resp.text)
            assert (
                resp.headers["content-type"].startswith("application/problem+json") or path == "/health/ready"
            )
            assert elapsed < 5, f"{path} took {elapsed:.1f}s to fail"
        failed_write = await admin_client.post("/api/v1/workspaces", json={"slug": "pg-never", "name": "x"})
        assert failed_write.status_code == 503
    finally:
        await asyncio.to_thread(postgres_service.start)

    deadline = time.monotonic() + 30
    while True:
        resp = await admin_client.get(url)
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert resp.status_code == 200, resp.text
    listed = await admin_client.get("/api/v1/workspaces", params={"limit": 500})
    slugs = {w["slug"] for w in listed.json()["items"]}
    assert workspace["slug"] in slugs
    assert "pg-never" not in slugs


@pytest.mark.outage
async def test_restart_while_idle_costs_no_request(
    admin_client: Any, postgres_service: Any, workspace: dict[str, Any]
) -> None:
    """Pooled connections that predate a restart are pinged (they have been idle) and replaced
    before a request meets them: the first request after the restart already succeeds."""
    from lakeplane.db.engine import PING_AFTER_IDLE_S

    url = connections_of(workspace)

    await asyncio.to_thread(postgres_service.stop)
    await asyncio.to_thread(postgres_service.start)
    await asyncio.sleep(PING_AFTER_IDLE_S)  # however fast the restart was

    for path in (url, "/api/v1/workspaces", url):
        resp = await admin_client.get(path)
        assert resp.status_code == 200, (path, resp.text)
