"""Run dispatch: 2,000 noop runs through 1, 2 and 4 ``lakeplane worker`` processes.

Beside it, in the same run on the same database server, a bare ``FOR UPDATE SKIP
LOCKED`` dequeue loop (one asyncpg connection per "worker", one row per statement,
nothing else) shows what Postgres alone allows.

For each worker count, on a fresh database:

``burst``   2,000 runs are submitted (through ``submit_run``: audit, transition,
            NOTIFY) before the workers start, held with ``next_attempt_at`` in the
            future, then released in one statement once the workers are ready:
            runs/s is 2,000 over the time from release to the last finish.
``steady``  ``--steady-runs`` (500) runs submitted at each of ``--rates`` per second:
            by default 50/s and half the burst rate just measured (below capacity,
            so the figure is dispatch latency, not backlog). Queued-to-running is
            ``started_at - created_at`` of each run, p50/p99; ``created_at`` is set
            inside the submit, before its insert, audit event and commit, so the
            figure includes the submitting process's own delays.

Targets (2 cores): at least 300 runs/s with 2 workers; queued-to-running p50 under 20 ms.

    .venv/bin/python bench/dispatch.py [--runs 2000] [--workers 1 2 4] [--rates 50 half]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import pgserver
from sqlalchemy import func, select, text, update

from lakeplane.db.models import Run, Workspace
from lakeplane.domain import audit
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.domain.runs.services import submit_run
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.worker.process import _asyncpg_args

CONCURRENCY = 32


def write_config(path: Path, url: str, config) -> None:
    keys = ", ".join(f'{k} = "{v}"' for k, v in config.security.encryption_keys.items())
    path.write_text(
        f"""[database]
url = "{url}"
pool_size = 20
[security]
session_key = "{config.security.session_key}"
encryption_keys = {{ {keys} }}
primary_key_id = "{config.security.primary_key_id}"
[worker]
lease_seconds = 15
poll_interval_s = 0.2
queues = {{ default = 100000 }}
workspace_limit = 100000
"""
    )


async def start_workers(n: int, config_path: Path, logdir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    logs = []
    for i in range(n):
        log = logdir / f"worker{n}-{i}.log"
        logs.append(log)
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "lakeplane.cli",
                        "worker",
                        "--config",
                        str(config_path),
                        "--name",
                        f"bench{n}-{i}",
                        "--concurrency",
                        str(CONCURRENCY),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            )
    while not all("ready:" in log.read_text(errors="replace") for log in logs):
        await asyncio.sleep(0.1)
    return procs


async def submit_many(lp: Services, ws: str, job: str, count: int, rate: float | None) -> list[str]:
    actor = audit.Actor.system("bench")
    ids: list[str] = []
    semaphore = asyncio.Semaphore(8)
    started = time.monotonic()

    async def one(i: int) -> None:
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        async with semaphore, lp.sessions() as db:
            ids.append((await submit_run(db, lp, actor, ws, job, {})).id)

    await asyncio.gather(*(one(i) for i in range(count)))
    return ids


async def wait_done(lp: Services, ids: list[str]) -> None:
    while True:
        async with lp.sessions() as db:
            left = await db.scalar(
                select(func.count())
                .select_from(Run)
                .where(Run.id.in_(ids), Run.state.in_(["queued", "running"]))
            )
        if left == 0:
            return
        await asyncio.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def bench_workers(
    server_url: str, n: int, runs: int, steady: int, rates: list[str], tmp: Path
) -> dict[str, Any]:
    url = await create_database(server_url, prefix=f"lp_bench{n}")
    config = make_config(url, worker={"queues": {"default": 100000}, "workspace_limit": 100000})
    config_path = tmp / f"bench{n}.toml"
    write_config(config_path, url, config)
    lp = Services.build(make_config(url, database={"pool_size": 10}))
    ws = new_id("ws")
    async with lp.sessions() as db, db.begin():
        db.add(Workspace(id=ws, slug=f"bench-{secrets.token_hex(3)}", name="bench"))
    async with lp.sessions() as db:
        job, _ = await jobs.create(
            db, lp, audit.Actor.system("bench"), ws, JobCreate(name="b", type="noop", definition={})
        )
    # burst: every run queued and held before any worker starts, then released in one statement
    burst_ids = await submit_many(lp, ws, job.id, runs, None)
    async with lp.sessions() as db, db.begin():
        await db.execute(
            update(Run).where(Run.id.in_(burst_ids)).values(next_attempt_at=text("now() + interval '1 hour'"))
        )
    procs = await start_workers(n, config_path, tmp)
    try:
        async with lp.sessions() as db, db.begin():
            released = (await db.execute(text("SELECT clock_timestamp()"))).scalar_one()
            await db.execute(update(Run).where(Run.id.in_(burst_ids)).values(next_attempt_at=released))
            await db.execute(text("SELECT pg_notify('lakeplane_runs', 'default')"))
        await wait_done(lp, burst_ids)
        async with lp.sessions() as db:
            last = await db.scalar(select(func.max(Run.finished_at)).where(Run.id.in_(burst_ids)))
            ok = await db.scalar(select(func.count()).where(Run.id.in_(burst_ids), Run.state == "succeeded"))
            others = (
                await db.execute(
                    select(Run.state, Run.reason, func.count())
                    .where(Run.id.in_(burst_ids), Run.state != "succeeded")
                    .group_by(Run.state, Run.reason)
                )
            ).all()
        for state, reason, count in others:
            print(f"  {n} worker(s): {count} run(s) {state}: {reason}", flush=True)
        throughput = runs / (last - released).total_seconds()
        # steady: paced below the measured capacity, so queued-to-running is dispatch latency, not backlog
        latency = []
        for given in rates:
            rate = throughput / 2 if given == "half" else float(given)
            steady_ids = await submit_many(lp, ws, job.id, steady, rate)
            await wait_done(lp, steady_ids)
            async with lp.sessions() as db:
                rows = (
                    await db.execute(select(Run.created_at, Run.started_at).where(Run.id.in_(steady_ids)))
                ).all()
            waits = [(s - c).total_seconds() * 1000 for c, s in rows]
            latency.append((rate, statistics.median(waits), pct(waits, 0.99)))
        return {"workers": n, "runs_per_s": throughput, "burst_ok": ok, "latency": latency}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        await lp.engine.dispose()


async def bench_bare(server_url: str, n: int, runs: int) -> float:
    url = await create_database(server_url, prefix="lp_bare")
    args = _asyncpg_args(url)
    setup = await asyncpg.connect(**args)
    await setup.execute(
        "CREATE TABLE q (id bigserial PRIMARY KEY, state text NOT NULL, started_at timestamptz);"
        "CREATE INDEX ON q (state, id)"
    )
    await setup.execute("INSERT INTO q (state) SELECT 'queued' FROM generate_series(1, $1)", runs)
    conns = [await asyncpg.connect(**args) for _ in range(n)]
    dequeue = """
        UPDATE q SET state = 'done', started_at = clock_timestamp()
        WHERE id = (SELECT id FROM q WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id
    """

    async def loop(conn: asyncpg.Connection) -> None:
        while await conn.fetchval(dequeue) is not None:
            pass

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in [*conns, setup]:
        await conn.close()
    return runs / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steady-runs", type=int, default=500, help="paced runs for the latency figures")
    parser.add_argument(
        "--rates",
        nargs="+",
        default=["50", "half"],
        help="paced submissions per second for the latency figures; 'half' is half the burst rate",
    )
    parser.add_argument("--server", help="postgresql+asyncpg:// URL of a server to use (default: start one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lp-bench-") as tmp:
        server = None
        url = args.server
        if url is None:
            server = pgserver.get_server(f"/tmp/lp_bench_pg_{secrets.token_hex(3)}", cleanup_mode="delete")
            url = server.get_uri().replace("postgresql://", "postgresql+asyncpg://")
        try:
            print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}")
            print(
                f"{'workers':>7} {'runs/s':>8} {'bare SKIP LOCKED rows/s':>24}   "
                "queued-to-running p50 / p99 ms at a paced submit rate"
            )
            for n in args.workers:
                result = await bench_workers(url, n, args.runs, args.steady_runs, args.rates, Path(tmp))
                bare = await bench_bare(url, n, args.runs)
                latency = "   ".join(
                    f"{p50:.1f} / {p99:.1f} at {rate:.0f}/s" for rate, p50, p99 in result["latency"]
                )
                print(
                    f"{n:>7} {result['runs_per_s']:>8.0f} {bare:>24.0f}   {latency}"
                    f"   (burst succeeded: {result['burst_ok']}/{args.runs})",
                    flush=True,
                )
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
        finally:
            if server is not None:
                server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
