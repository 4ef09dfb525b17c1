"""A small Trino SQL job end to end through the platform, against the bare ``trino`` client.

``bare``      the DB-API client: ``execute("SELECT 1")`` then ``fetchall()``;
``platform``  ``submit_run()`` of a ``trino_sql`` job (audit, transition, NOTIFY), a real
              ``lakeplane worker`` process claims it, submits to Trino, stores the handle,
              polls, keeps the preview, records the outcome; timed until the run reads
              ``succeeded`` in the database (polled every 5 ms).

Interleaved run by run so that warm-up and noise hit both alike.
Target: the platform adds under 150 ms at p50.

Where the platform's time goes, as medians over the runs, from the run's own
timestamps (``created_at``, ``started_at``, ``finished_at``) and the worker's log
notes: ``submit`` (the ``submit_run()`` call), ``claim`` (created to started:
commit, NOTIFY, the worker's claim), ``to engine`` (started to the "submitted"
note: load, engine set-up, Trino's POST and first page), ``engine`` (to the
"ended" note: storing the handle, polling until Trino is done, reading the preview
and the engine log), ``record`` (to ``finished_at``: the log copy, if any, and the
outcome's write) and ``observed`` (the commit and this script's 5 ms polling). ``--py-spy OUT`` samples the worker
process with py-spy meanwhile (collapsed stacks, for ``flamegraph.pl`` or grep).

    .venv/bin/python bench/trino_job.py --server http://127.0.0.1:8080 [--runs 30]
    .venv/bin/python bench/trino_job.py            # starts a Trino (plugins/trino/tests/_trino_server.py)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pgserver
import trino
from sqlalchemy import select

from lakeplane.db.models import Run, RunLog, Workspace
from lakeplane.domain import audit
from lakeplane.domain.connections import services as connections
from lakeplane.domain.connections.schemas import ConnectionCreate
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.domain.runs.services import submit_run
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config

SQL = "SELECT 1"
USER = "bench"
NOTE = re.compile(r"^(\S+Z) \[worker\] (.*)$", re.MULTILINE)
PHASES = ("submit", "claim", "to engine", "engine", "record", "observed")


async def run(host: str, port: int, runs: int, py_spy: Path | None = None) -> bool:
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
                name="trino", kind="engine", plugin="trino", params={"host": host, "port": port, "user": USER}
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

    #: Per measured platform run: (run id, submit call ms, wall clock when the run was seen done).
    observed: list[tuple[str, float, dt.datetime]] = []

    async def platform(measured: bool) -> None:
        started = time.perf_counter()
        async with lp.sessions() as db:
            run_id = (await submit_run(db, lp, actor, ws, job.id, {})).id
        submit_ms = (time.perf_counter() - started) * 1000
        while True:
            async with lp.sessions() as db:
                state = await db.scalar(select(Run.state).where(Run.id == run_id))
            if state not in ("queued", "running"):
                assert state == "succeeded", state
                if measured:
                    observed.append((run_id, submit_ms, dt.datetime.now(dt.UTC)))
                return
            await asyncio.sleep(0.005)

    profiler = None
    try:
        while "ready:" not in (tmp / "worker.log").read_text(errors="replace"):
            await asyncio.sleep(0.1)
        if py_spy is not None:
            profiler = subprocess.Popen(
                [
                    _py_spy(),
                    "record",
                    "--pid",
                    str(worker.pid),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(py_spy),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
            )
        timings: dict[str, list[float]] = {"bare": [], "platform": []}
        for i in range(runs + 3):
            for name in ("bare", "platform"):
                started = time.perf_counter()
                if name == "bare":
                    await asyncio.to_thread(bare)
                else:
                    await platform(measured=i >= 3)
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
        phases = await breakdown(lp, observed)
        print(
            "platform phases, p50 ms: "
            + "   ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items())
        )
        return ok
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
            print(f"py-spy samples of the worker: {py_spy}")
        worker.terminate()
        worker.wait(timeout=60)
        await lp.engine.dispose()
        server.cleanup()


async def breakdown(lp: Services, observed: list[tuple[str, float, dt.datetime]]) -> dict[str, list[float]]:
    """Each run's time split at its own timestamps and the worker's notes (see the module docstring)."""
    phases: dict[str, list[float]] = {name: [] for name in PHASES}
    async with lp.sessions() as db:
        for run_id, submit_ms, seen in observed:
            run = (await db.scalars(select(Run).where(Run.id == run_id))).one()
            text = "".join((await db.scalars(select(RunLog.text).where(RunLog.run_id == run_id))).all())
            submitted = ended = None
            for stamp, message in NOTE.findall(text):
                when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
                if ": submitted to " in message:
                    submitted = when
                elif " ended: " in message:
                    ended = when
            assert run.started_at and run.finished_at and submitted and ended, (run_id, text)
            marks = [run.created_at, run.started_at, submitted, ended, run.finished_at, seen]
            phases["submit"].append(submit_ms)
            for name, (a, b) in zip(PHASES[1:], itertools.pairwise(marks), strict=True):
                phases[name].append((b - a).total_seconds() * 1000)
    return phases


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", help="http://host:port of a running Trino; default: start one")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--py-spy", type=Path, metavar="OUT", help="sample the worker with py-spy into OUT")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from trino_overhead import trino_at

    with trino_at(args.server) as (host, port):
        ok = asyncio.run(run(host, port, args.runs, args.py_spy))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
