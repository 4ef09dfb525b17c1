"""Admin UI: server time of the runs list page against the JSON API for the same page.

One process, one real PostgreSQL (from the pgserver wheel) holding 10,000 runs of a
workspace; both requests go through the whole app in-process (ASGI, no network), with
the same signed-in session, interleaved, after a warm-up:

- ``GET /ui/w/{ws}/runs``                      (HTML, 50 runs, filters, job names, nav)
- ``GET /api/v1/workspaces/{ws}/runs``         (JSON, 50 runs)

Target: the page's median server time is at most 1.5x the API's.

    .venv/bin/python bench/ui.py [--runs 10000] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

from lakeplane.db.models import Run
from lakeplane.domain import audit
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.ids import new_id
from lakeplane.testing.app import create_database, make_config
from lakeplane.web.app import create_app
from lakeplane.web.state import services
from lakeplane_ui.testing import SIGNIN_INPUT, make_workspace, password_user, setup_sessions

STATES = ("succeeded", "succeeded", "succeeded", "failed", "cancelled", "running", "queued")


async def seed(lp, runs: int) -> str:
    async with setup_sessions(lp)() as db:
        ws = await make_workspace(db, "bench")
        job, version = await jobs.create(
            db,
            lp,
            audit.Actor.system("bench"),
            ws.id,
            JobCreate(name="bench-job", type="noop", definition={"delay_s": 0}),
        )
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        rows = []
        for i in range(runs):
            created = start + dt.timedelta(minutes=i)
            state = STATES[i % len(STATES)]
            done = state in ("succeeded", "failed", "cancelled")
            rows.append(
                {
                    "id": new_id("run"),
                    "workspace_id": ws.id,
                    "job_id": job.id,
                    "job_version_id": version.id,
                    "state": state,
                    "queue": "default",
                    "parameters": {"day": f"2026-01-{1 + i % 28:02d}"},
                    "attempt": 1,
                    "max_attempts": 1,
                    "stats": {},
                    "created_at": created,
                    "started_at": created + dt.timedelta(seconds=1) if state != "queued" else None,
                    "finished_at": created + dt.timedelta(seconds=5 + i % 30) if done else None,
                }
            )
        for chunk in range(0, len(rows), 2000):
            await db.execute(insert(Run), rows[chunk : chunk + 2000])
        await db.commit()
    return ws.slug


async def measure(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    response = await client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return elapsed * 1000


async def run(args: argparse.Namespace) -> None:
    import pgserver

    work = Path(tempfile.mkdtemp(prefix="lp-bench-ui-"))
    server = pgserver.get_server(str(work / "pg"), cleanup_mode="stop")
    try:
        db_url = await create_database(
            f"postgresql+asyncpg://postgres@/postgres?host={work / 'pg'}", prefix="lp_bench"
        )
        app = create_app(make_config(db_url))
        lp = services(app.state)
        slug = await seed(lp, args.runs)
        password = secrets.token_urlsafe(16)
        await password_user(lp, "bench-admin", password, is_admin=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            page = await client.get("/ui/signin")
            token = SIGNIN_INPUT.search(page.text)[1]  # type: ignore[index]
            signed = await client.post(
                "/ui/signin", data={"username": "bench-admin", "password": password, "signin_csrf": token}
            )
            assert signed.status_code == 303, signed.text
            ui_url, api_url = f"/ui/w/{slug}/runs", f"/api/v1/workspaces/{slug}/runs"
            html = (await client.get(ui_url)).text
            assert len(re.findall(r'href="/ui/w/bench/runs/run_', html)) == 50, "the page must list 50 runs"
            for _ in range(args.warmup):
                await measure(client, ui_url)
                await measure(client, api_url)
            ui_ms, api_ms = [], []
            for _ in range(args.requests):
                ui_ms.append(await measure(client, ui_url))
                api_ms.append(await measure(client, api_url))
        await lp.engine.dispose()
    finally:
        server.cleanup()

    def summary(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[int(len(values) * 0.95) - 1]
        median, mean = statistics.median(values), statistics.mean(values)
        return f"median {median:6.2f} ms   p95 {p95:6.2f} ms   mean {mean:6.2f} ms"

    ratio = statistics.median(ui_ms) / statistics.median(api_ms)
    print(f"runs in the database: {args.runs}; {args.requests} requests each, interleaved")
    print(f"JSON API  GET /api/v1/workspaces/{{ws}}/runs   {summary(api_ms)}")
    print(f"UI page   GET /ui/w/{{ws}}/runs                {summary(ui_ms)}")
    print(f"page / API (medians): {ratio:.2f}x  (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
