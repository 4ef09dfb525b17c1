"""Prometheus metrics: a real worker's listener, and the API's HTTP metrics by route template."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lakeplane.local.ports import free_ports
from lakeplane.testing.app import make_user
from lakeplane.web.app import create_app

from .conftest import make_env


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_worker_metrics_on_their_own_port(postgres_service: Any, tmp_path: Path) -> None:
    env = await make_env(postgres_service.url, tmp_path)
    (port,) = free_ports(1)
    with env.config_path.open("a") as config:
        config.write(f"[metrics]\nenabled = true\nport = {port}\n")
    try:
        waiting = await env.job_with({}, queue="batch")
        parked = await env.submit(waiting, 3)
        ok, bad = await env.job(), await env.job(fail=True)
        done = await env.submit(ok, 4) + await env.submit(bad, 1)
        worker = env.start_worker(concurrency=4, queues=("default",))
        await worker.ready()
        await env.wait_for(lambda: env.all_terminal(done), 60, "the runs")
        async with httpx.AsyncClient(timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                found = samples((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
                if (
                    value(found, "lakeplane_run_duration_seconds_count", job_type="noop", outcome="failed")
                    >= 1
                ):
                    break
                assert time.monotonic() < deadline, sorted(k[0] for k in found)
                await asyncio.sleep(0.5)
        assert value(found, "lakeplane_run_duration_seconds_count", job_type="noop", outcome="succeeded") == 4
        assert value(found, "lakeplane_run_queue_wait_seconds_count", queue="default") == 5
        assert value(found, "lakeplane_runs", state="queued", queue="batch", workspace=env.workspace_id) == 3
        assert value(found, "lakeplane_audit_head_seq") > 0
        assert ("lakeplane_lease_losses_total", frozenset()) in found
        assert all(r.state == "queued" for r in await env.runs(parked))
    finally:
        env.stop_all()
        await env.lp.engine.dispose()


async def test_api_http_metrics_use_route_templates_and_are_not_on_the_api(
    postgres_service: Any, tmp_path: Path
) -> None:
    env = await make_env(postgres_service.url, tmp_path)
    config = env.lp.config
    import msgspec

    config = msgspec.structs.replace(config, metrics=msgspec.structs.replace(config.metrics, enabled=True))
    app = create_app(config)
    async with env.lp.sessions() as db:
        _, token = await make_user(db, "metrics-admin", is_admin=True)
    try:
        async with AsyncTestClient(app=app) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            for _ in range(3):
                assert (await client.get(f"/api/v1/workspaces/{env.workspace_id}")).status_code == 200
            assert (await client.get("/api/v1/workspaces/ws_does_not_exist")).status_code == 404
            assert (await client.get("/metrics")).status_code in (401, 404)
        text = generate_latest(REGISTRY).decode()
        assert env.workspace_id not in text and "ws_does_not_exist" not in text
        found = samples(text)
        template = "/api/v1/workspaces/{ws}"
        matching = [k for k in found if k[0] == "lakeplane_requests_total" and ("path", template) in k[1]]
        assert matching and sum(found[k] for k in matching) >= 4, [k for k in found if "requests" in k[0]][:5]
    finally:
        await env.lp.engine.dispose()
