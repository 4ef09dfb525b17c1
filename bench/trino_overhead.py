"""What the Trino plugin adds over the bare ``trino`` client, on one server in one run.

Each query runs through three paths, interleaved round by round so that server
warm-up and machine noise hit them alike:

``client``   the ``trino`` DB-API client: ``cursor.execute()`` then ``fetchall()``;
``execute``  ``TrinoEngine.execute()``: the statement read to the end, a preview kept;
``job``      a job: ``submit()``, ``status()`` every 10 ms until terminal, ``results()``;
``worker``   the same with the worker's cadence, ``status()`` from 5 ms doubling to 0.5 s:
             what a run waits in all, where the cadence (the worker's setting) dominates.

Besides wall time, the table shows this process's CPU time per run: the client-side
work of each path, which a busy machine does not blur the way it blurs wall time.

Targets, for ``execute`` and ``job``: the small query adds under 50 ms at p50, the scan
under 5 %.

    .venv/bin/python bench/trino_overhead.py                 # starts a Trino with tpch
    .venv/bin/python bench/trino_overhead.py --server http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import trino

from lakeplane.interfaces import Submission
from lakeplane_trino import TrinoEngine, TrinoParams, TrinoSqlSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "trino" / "tests"))

SMALL_SQL = "SELECT 1"
SCAN_SQL = "SELECT * FROM tpch.sf1.customer"
USER = "bench"


def bare_client(host: str, port: int) -> Callable[[str], int]:
    connection = trino.dbapi.connect(host=host, port=port, user=USER, source="bench")  # type: ignore[no-untyped-call]

    def run(sql: str) -> int:
        cursor = connection.cursor()
        cursor.execute(sql)
        return len(cursor.fetchall())

    return run


async def via_execute(engine: TrinoEngine, sql: str) -> int:
    result = await engine.execute(sql, limit=100)
    assert result.row_count is not None
    return result.row_count


async def via_job(engine: TrinoEngine, sql: str, first_poll_s: float, backoff: float) -> int:
    handle = await engine.submit(
        Submission(
            run_id="run_bench", attempt=1, workspace="bench", job_type="trino_sql", spec=TrinoSqlSpec(sql=sql)
        )
    )
    delay = first_poll_s
    while not (status := await engine.status(handle)).state.terminal:
        await asyncio.sleep(delay)
        delay = min(delay * backoff, 0.5)
    preview = await engine.results(handle, limit=100)
    assert preview is not None and preview.row_count is not None, status
    return preview.row_count


@dataclass
class Timings:
    """Per path: wall-clock seconds, and this process's CPU seconds (client-side work)."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


async def measure(
    engine: TrinoEngine, client: Callable[[str], int], sql: str, runs: int, warmup: int
) -> Timings:
    paths: dict[str, Callable[[], Awaitable[int]]] = {
        "execute": lambda: via_execute(engine, sql),
        "job": lambda: via_job(engine, sql, 0.01, 1),
        "worker": lambda: via_job(engine, sql, 0.005, 2),
    }
    names = ["client", *paths]
    timings = Timings({name: [] for name in names}, {name: [] for name in names})
    rows: dict[str, int] = {}
    for round_ in range(warmup + runs):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            started, cpu_started = time.perf_counter(), time.process_time()
            count = client(sql) if name == "client" else await paths[name]()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            rows[name] = count
            if round_ >= warmup:
                timings.wall[name].append(wall)
                timings.cpu[name].append(cpu)
    assert len(set(rows.values())) == 1, f"paths disagree on the row count: {rows}"
    return timings


def report(title: str, timings: Timings) -> dict[str, tuple[float, float]]:
    """Print the table; return per path the p50 wall time added, in ms and in %."""
    base = statistics.median(timings.wall["client"])
    print(f"\n{title} ({len(timings.wall['client'])} runs each)")
    print(f"  {'path':<8} {'p50 ms':>10} {'p90 ms':>10} {'p50 added':>12} {'added %':>9} {'CPU p50 ms':>11}")
    added = {}
    for name, values in timings.wall.items():
        p50 = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else p50
        added[name] = ((p50 - base) * 1000, (p50 - base) / base * 100)
        ms, pct = added[name]
        cpu = statistics.median(timings.cpu[name]) * 1000
        print(
            f"  {name:<8} {p50 * 1000:>10.1f} {p90 * 1000:>10.1f} {ms:>+10.1f}ms {pct:>+8.1f}% {cpu:>11.1f}"
        )
    return added


async def run(host: str, port: int, args: argparse.Namespace) -> bool:
    client = bare_client(host, port)
    async with TrinoEngine(TrinoParams(host=host, port=port, user=USER, source="bench")) as engine:
        small = report(f"small query: {SMALL_SQL}", await measure(engine, client, SMALL_SQL, args.runs, 5))
        scan = report(
            f"scan: {args.scan_sql}", await measure(engine, client, args.scan_sql, args.scan_runs, 1)
        )
    ok = True
    for name in ("execute", "job"):
        small_ok, scan_ok = small[name][0] < 50, scan[name][1] < 5
        ok = ok and small_ok and scan_ok
        print(
            f"\n{name}: small query {small[name][0]:+.1f} ms at p50 (target < 50 ms: "
            f"{'met' if small_ok else 'MISSED'}); scan {scan[name][1]:+.1f} % "
            f"(target < 5 %: {'met' if scan_ok else 'MISSED'})"
        )
    return ok


@contextlib.contextmanager
def trino_at(address: str | None, what: str = "Trino") -> Iterator[tuple[str, int]]:
    """The host and port of the Trino at ``address`` (``http://host:port``), or of one
    started for the bench and stopped after it."""
    if address:
        url = urllib.parse.urlsplit(address)
        yield url.hostname or "127.0.0.1", url.port or 8080
        return
    from _trino_server import start

    print(f"starting {what} ...", flush=True)
    server = start(Path(tempfile.mkdtemp(prefix="lakeplane-bench-trino-")))
    try:
        yield server.host, server.port
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", help="http://host:port of a Trino with the tpch catalog; default: start one"
    )
    parser.add_argument("--runs", type=int, default=40, help="measured runs of the small query per path")
    parser.add_argument("--scan-runs", type=int, default=5, help="measured runs of the scan per path")
    parser.add_argument("--scan-sql", default=SCAN_SQL)
    args = parser.parse_args()
    with trino_at(args.server, "Trino with the tpch connector") as (host, port):
        ok = asyncio.run(run(host, port, args))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
