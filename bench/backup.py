"""Backup and restore of a metadata database with 100,000 runs, against bare pg_dump/pg_restore.

One PostgreSQL (the test fixtures' own, from the pgserver wheel) holds a migrated database
filled with ``--runs`` finished runs (each with its parameters, stats, log URI and two
transitions) of 20 jobs. In the same run, on the same server:

``bare``       ``pg_dump --format=custom`` to a file, then ``pg_restore`` of it into an
               empty database: the floor.
``lakeplane``  ``lakeplane backup`` (dump, tar with checksums, manifest, counts) to a
               directory, then ``lakeplane restore`` (full verification, one-transaction
               restore through ``psql``, audit event) into an empty database.

Each is timed ``--repeat`` times and the best is kept. Target: each ratio at most 1.3.
Run logs are left out (no object store): the figure is the database's.

    .venv/bin/python bench/backup.py [--runs 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg

from lakeplane.backup import backup, restore
from lakeplane.backup.pgtools import PgTarget, find_tool, run_tool
from lakeplane.testing.app import create_database, make_config
from lakeplane.testing.services import running


async def fill(dsn: str, runs: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO workspaces (id, slug, name) VALUES ('ws_bench', 'bench', 'Bench');
            INSERT INTO jobs (id, workspace_id, name, type, current_version)
                SELECT 'job_' || g, 'ws_bench', 'job-' || g, 'noop', 1 FROM generate_series(1, 20) g;
            INSERT INTO job_versions (id, job_id, version, definition, parameters)
                SELECT 'jv_' || g, 'job_' || g, 1, jsonb_build_object('message', 'hello ' || g), '[]'
                FROM generate_series(1, 20) g;
            """
        )
        await conn.execute(
            """
            INSERT INTO runs (id, workspace_id, job_id, job_version_id, state, queue, parameters, attempt,
                              max_attempts, log_uri, log_sha256, stats, created_at, started_at, finished_at)
            SELECT 'run_' || g, 'ws_bench', 'job_' || (g % 20 + 1), 'jv_' || (g % 20 + 1), 'succeeded',
                   'default', jsonb_build_object('day', '2026-11-' || (g % 28 + 1)), 1, 1,
                   'lakeplane-store://lakeplane/runs/ws_bench/run_' || g || '/log.txt', md5(g::text) || md5(g::text),
                   jsonb_build_object('rows', g, 'ms', g % 997), now() - g * interval '1 second',
                   now() - g * interval '1 second', now() - g * interval '1 second' + interval '2 seconds'
            FROM generate_series(1, $1) g
            """,
            runs,
        )
        await conn.execute(
            """
            INSERT INTO run_transitions (run_id, attempt, from_state, to_state, at)
            SELECT 'run_' || g, 1, s.f, s.t, now() FROM generate_series(1, $1) g,
                   (VALUES (NULL, 'queued'), ('queued', 'running'), ('running', 'succeeded')) AS s (f, t)
            """,
            runs,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def empty_database(server_url: str) -> str:
    url = await create_database(server_url, prefix="lp_bench_restore")
    # An empty target, as a new installation has: the schema, no rows.
    return url


async def main(runs: int, repeat: int) -> None:
    with running() as services:
        postgres = services.get("postgres")
        source = await create_database(postgres.url, prefix="lp_bench_backup")
        await fill(source.replace("postgresql+asyncpg://", "postgresql://"), runs)
        config = make_config(source)
        work = Path(tempfile.mkdtemp(prefix="lp-bench-backup-"))
        try:
            target = PgTarget.from_url(source)
            pg_dump, pg_restore = find_tool("pg_dump", 16), find_tool("pg_restore", 16)
            bare_dump, bare_restore, lp_backup, lp_restore = [], [], [], []
            for round_ in range(repeat):
                dump = work / f"bare-{round_}.dump"
                t0 = time.perf_counter()
                await run_tool([str(pg_dump), "--format=custom", f"--file={dump}"], target)
                bare_dump.append(time.perf_counter() - t0)

                into = await empty_database(postgres.url)
                t0 = time.perf_counter()
                await run_tool(
                    [
                        str(pg_restore),
                        "--clean",
                        "--if-exists",
                        "--dbname",
                        into.rsplit("/", 1)[1],
                        str(dump),
                    ],
                    PgTarget.from_url(into),
                )
                bare_restore.append(time.perf_counter() - t0)

                t0 = time.perf_counter()
                made = await backup(config, str(work / f"lp-{round_}"))
                lp_backup.append(time.perf_counter() - t0)

                into = await empty_database(postgres.url)
                t0 = time.perf_counter()
                await restore(make_config(into, security=_same_keys(config)), made.location)
                lp_restore.append(time.perf_counter() - t0)
                print(
                    f"round {round_ + 1}: pg_dump {bare_dump[-1]:.2f}s  lakeplane backup {lp_backup[-1]:.2f}s  "
                    f"pg_restore {bare_restore[-1]:.2f}s  lakeplane restore {lp_restore[-1]:.2f}s  "
                    f"archive {made.size / 1e6:.1f} MB, dump {dump.stat().st_size / 1e6:.1f} MB"
                )
            print(f"runs: {runs}")
            print(
                f"backup:  lakeplane {min(lp_backup):.2f}s / pg_dump {min(bare_dump):.2f}s = {min(lp_backup) / min(bare_dump):.2f}x (target <= 1.3)"
            )
            print(
                f"restore: lakeplane {min(lp_restore):.2f}s / pg_restore {min(bare_restore):.2f}s = {min(lp_restore) / min(bare_restore):.2f}x (target <= 1.3)"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _same_keys(config: object) -> dict[str, object]:
    security = config.security  # type: ignore[attr-defined]
    return {
        "session_key": security.session_key,
        "encryption_keys": security.encryption_keys,
        "primary_key_id": security.primary_key_id,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.repeat))
