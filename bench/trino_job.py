"""A small Trino SQL job end to end through the platform, against the bare ``trino`` client.

``bare``      the DB-API client: ``execute("SELECT 1")`` then ``fetchall()``;
``platform``  ``submit_run()`` of a ``trino_sql`` job (audit, transition, NOTIFY), a real
              ``lakeplane worker`` process claims it, submits to Trino, stores the handle,
              polls, keeps the preview, records the outcome; timed until the run reads
              ``succeeded`` in the database (polled every 5 ms).

Interleaved run by run so that warm-up and noise hit both alike.
Target: the platform adds under 150 ms at p50.

    .venv/bin/python bench/trino_job.py --server http://127.0.0.1:8080 [--runs 30]
    .venv/bin/python bench/trino_job.py            # starts a Trino (plugins/trino/tests/_trino_server.py)
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
import urllib.parse
from pathlib import Path

import pgserver
import trino
from sqlalchemy import select

from lakeplane import audit
from lakeplane.db.models import Run, Workspace
from lakeplane.domain.connections import services as connections
from lakeplane.domain.connections.schemas import ConnectionCreate
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.domain.runs.services import submit_run
from lakeplane.ids import new_id
from lakeplane.testing.app import create_database, make_config
from lakeplane.web.state import Services

SQL = "SELECT 1"
USER = "bench"


async def run(host: str, port: int, runs: int) -> bool:
    server = pgserver.get_server(f"/tmp/lp_tbench_pg_{secrets.token_hex(3)}", cleanup_mode="delete")
    url = await create_database(
        server.get_uri().replace("postgresql://", "postgresql+asyncpg://"), "lp_tbench"
    )
    security = {"allowed_endpoints": [host]}
    config = make_config(url, engines={"trino": {"plugin": "trino"}}, security=security)
    tmp = Path(tempfile.mkdtemp(prefix="lp-tbench-"))
    keys = ", ".join(f'{k} = "{v}"' for k, v in config.security.encryption_keys.items())
    (tmp / "c.toml").write_text(
        f'[database]\nurl = "{url}"\n[security]\nsession_key = "{config.security.session_key}"\n'
        f'encryption_keys = {{ {keys} }}\nprimary_key_id = "{config.security.primary_key_id}"\n'
        f'allowed_endpoints = ["{host}"]\n[worker]\npoll_interval_s = 0.2\n'
        '[engines.trino]\nplugin = "trino"\n'
    )
    lp = Services.build(config)
    actor = audit.Actor.system("bench")
    ws = new_id("ws")
    async with lp.sessions() as db, db.begin():
        db.add(Workspace(id=ws, slug=f"tb-{secrets.token_hex(3)}", name="bench"))
    async with lp.sessions() as db:
        conn = await connections.create(
            db,
            lp,
            actor,
            ws,
            ConnectionCreate(
                name="trino", role="engine", plugin="trino", params={"host": host, "port": port, "user": USER}
            ),
        )
    async with lp.sessions() as db:
        job, _ = await jobs.create(
            db,
            lp,
            actor,
            ws,
            JobCreate(name="one", type="trino_sql", definition={"sql": SQL}, connection_id=conn.id),
        )
    log = (tmp / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "lakeplane.cli", "worker", "--config", str(tmp / "c.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    bare_conn = trino.dbapi.connect(host=host, port=port, user=USER, source="bench")

    def bare() -> None:
        cursor = bare_conn.cursor()
        cursor.execute(SQL)
        cursor.fetchall()

    async def platform() -> None:
        async with lp.sessions() as db:
            run_id = (await submit_run(db, lp, actor, ws, job.id, {})).id
        while True:
            async with lp.sessions() as db:
                state = await db.scalar(select(Run.state).where(Run.id == run_id))
            if state not in ("queued", "running"):
                assert state == "succeeded", state
                return
            await asyncio.sleep(0.005)

    try:
        while "ready:" not in (tmp / "worker.log").read_text(errors="replace"):
            await asyncio.sleep(0.1)
        timings: dict[str, list[float]] = {"bare": [], "platform": []}
        for i in range(runs + 3):
            for name in ("bare", "platform"):
                started = time.perf_counter()
                if name == "bare":
                    await asyncio.to_thread(bare)
                else:
                    await platform()
                if i >= 3:  # warm-up
                    timings[name].append((time.perf_counter() - started) * 1000)
        p50 = {k: statistics.median(v) for k, v in timings.items()}
        p90 = {k: sorted(v)[int(0.9 * (len(v) - 1))] for k, v in timings.items()}
        for name in timings:
            print(
                f"{name:>9}: p50 {p50[name]:7.1f} ms   p90 {p90[name]:7.1f} ms   ({len(timings[name])} runs)"
            )
        added = p50["platform"] - p50["bare"]
        ok = added < 150
        print(f"added at p50: {added:.1f} ms (target < 150 ms: {'met' if ok else 'MISSED'})")
        return ok
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        await lp.engine.dispose()
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", help="http://host:port of a running Trino; default: start one")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    trino_server = None
    if args.server:
        url = urllib.parse.urlsplit(args.server)
        host, port = url.hostname or "127.0.0.1", url.port or 8080
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "trino" / "tests"))
        from _trino_server import start

        print("starting Trino ...", flush=True)
        trino_server = start(Path(tempfile.mkdtemp(prefix="lakeplane-bench-trino-")))
        host, port = trino_server.host, trino_server.port
    try:
        ok = asyncio.run(run(host, port, args.runs))
    finally:
        if trino_server is not None:
            trino_server.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
