"""``lakeplane runs list --output json`` for 1,000 runs, against the same GET pages with bare httpx.

One served API (``lakeplane serve`` on loopback, real Postgres from pgserver) holds 1,000
queued noop runs. Alternating in one process, each timed ``--repeat`` times:

- the CLI command, called in-process through ``lakeplane.cli.main`` (parser, profile from the
  environment, ``lakeplane.client``, decoding into ``RunOut``, JSON out), so interpreter
  start-up, which is the same for any Python CLI, is left out;
- bare httpx: the same ``GET /api/v1/workspaces/{ws}/runs?limit=500`` pages, following
  ``next_cursor``, each body parsed and written out.

Printed: the median of each and their ratio. Target: at most 1.2x.

    .venv/bin/python bench/cli_runs_list.py [--runs 1000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from lakeplane.domain import audit
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.domain.runs.services import submit_run
from lakeplane.local.ports import free_ports
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config, make_user

PAGE = 500


async def prepare(server_url: str, runs: int) -> tuple[str, str, str]:
    db_url = await create_database(server_url, prefix="lp_bench_cli")
    config = make_config(db_url)
    lp = Services.build(config)
    actor = audit.Actor.system("bench")
    try:
        async with lp.sessions() as db:
            _, token = await make_user(db, "bench-admin", is_admin=True)
        from lakeplane.db.models import Workspace
        from lakeplane.ids import new_id

        ws_id = new_id("ws")
        async with lp.sessions() as db, db.begin():
            db.add(Workspace(id=ws_id, slug="bench", name="bench"))
        async with lp.sessions() as db:
            job, _ = await jobs.create(
                db, lp, actor, ws_id, JobCreate(name="noop", type="noop", definition={})
            )
        for _ in range(runs):
            async with lp.sessions() as db:
                await submit_run(db, lp, actor, ws_id, job.id, {})
    finally:
        await lp.engine.dispose()
    keys = config.security.encryption_keys
    config_text = "\n".join(
        [
            "[database]",
            f'url = "{db_url}"',
            "[security]",
            f'session_key = "{config.security.session_key}"',
            "encryption_keys = { " + ", ".join(f'{k} = "{v}"' for k, v in keys.items()) + " }",
            f'primary_key_id = "{config.security.primary_key_id}"',
            "",
        ]
    )
    return token, ws_id, config_text


def bare(base: str, token: str, ws: str) -> int:
    out = io.StringIO()
    count = 0
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}) as http:
        cursor = None
        while True:
            params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = http.get(f"/api/v1/workspaces/{ws}/runs", params=params).json()
            out.write(json.dumps(page["items"]))
            count += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return count


def through_cli(ws: str) -> int:
    from lakeplane.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["runs", "list", "-w", ws, "--output", "json"])
    assert code == 0, code
    return len(json.loads(out.getvalue()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    import pgserver

    work = Path(tempfile.mkdtemp(prefix="lp-bench-cli-"))
    pg = pgserver.get_server(str(work / "pg"), cleanup_mode="stop")
    server_url = f"postgresql+asyncpg://postgres@/postgres?host={work / 'pg'}"
    token, ws, config_text = asyncio.run(prepare(server_url, args.runs))
    (work / "lakeplane.toml").write_text(config_text)
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LAKEPLANE_CONFIG": str(work / "lakeplane.toml")}
    api = subprocess.Popen(
        [sys.executable, "-m", "lakeplane.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ.update({"LAKEPLANE_URL": base, "LAKEPLANE_TOKEN": token})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/live").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the API did not start") from None
            time.sleep(0.2)
        assert bare(base, token, ws) == through_cli(ws) == args.runs  # warm both paths
        timings: dict[str, list[float]] = {"cli": [], "bare": []}
        for _ in range(args.repeat):
            for name, step in (("cli", lambda: through_cli(ws)), ("bare", lambda: bare(base, token, ws))):
                started = time.perf_counter()
                step()
                timings[name].append(time.perf_counter() - started)
        cli, raw = statistics.median(timings["cli"]), statistics.median(timings["bare"])
        print(f"runs: {args.runs}, page size {PAGE}, repeats {args.repeat}, load {os.getloadavg()[0]:.2f}")
        print(f"lakeplane runs list --output json: {cli * 1000:.1f} ms (median)")
        print(f"bare httpx, same pages:            {raw * 1000:.1f} ms (median)")
        print(f"ratio: {cli / raw:.2f}x (target <= 1.2x)")
    finally:
        api.terminate()
        api.wait(timeout=15)
        pg.cleanup()


if __name__ == "__main__":
    main()
