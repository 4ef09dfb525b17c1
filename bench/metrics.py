"""API requests/s with Prometheus metrics on against off, in one run.

Two ``lakeplane serve`` processes on the same database, one with ``[metrics] enabled`` (HTTP
metrics by route template, its listener on a port of its own), one without, loaded in turn
by wrk (32 connections) on GET /api/v1/workspaces/{ws}/connections (50 rows, bearer token):
off, on, off, on, and the best round of each is kept. Target: on/off at least 0.95.

    .venv/bin/python bench/metrics.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from api import free_port, prepare, wait_http, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    import pgserver

    work = Path(tempfile.mkdtemp(prefix="lp-bench-metrics-"))
    pg = pgserver.get_server(str(work / "pg"), cleanup_mode="stop")
    server_url = f"postgresql+asyncpg://postgres@/postgres?host={work / 'pg'}"
    _, token, config_text = asyncio.run(prepare(server_url))
    off_config, on_config = work / "off.toml", work / "on.toml"
    off_config.write_text(config_text)
    metrics_port = free_port()
    on_config.write_text(config_text + f"\n[metrics]\nenabled = true\nport = {metrics_port}\n")
    servers = {}
    ports = {"off": free_port(), "on": free_port()}
    for name, path in (("off", off_config), ("on", on_config)):
        env = {**os.environ, "LAKEPLANE_CONFIG": str(path)}
        servers[name] = subprocess.Popen(
            [sys.executable, "-m", "lakeplane.cli", "serve", "--port", str(ports[name])],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    auth = {"Authorization": f"Bearer {token}"}
    best = {"off": 0.0, "on": 0.0}
    try:
        for port in ports.values():
            wait_http(f"http://127.0.0.1:{port}/health/live")
        base = f"http://127.0.0.1:{ports['off']}"
        ws = httpx.post(
            f"{base}/api/v1/workspaces", json={"slug": "bench", "name": "bench"}, headers=auth
        ).json()
        for i in range(50):
            httpx.post(
                f"{base}/api/v1/workspaces/{ws['id']}/connections",
                headers=auth,
                json={
                    "name": f"conn-{i:02d}",
                    "role": "object_store",
                    "plugin": "s3",
                    "params": {
                        "endpoint_url": "http://127.0.0.1:8333",
                        "access_key_id": f"k{i}",
                        "secret_access_key": f"s-{i}-value",
                    },
                },
            ).raise_for_status()
        path = f"/api/v1/workspaces/{ws['id']}/connections?limit=50"
        for port in ports.values():
            wrk(f"http://127.0.0.1:{port}{path}", 2, auth)  # warm-up
        for round_ in range(args.rounds):
            for name, port in ports.items():
                rps, p50, p99 = wrk(f"http://127.0.0.1:{port}{path}", args.seconds, auth)
                best[name] = max(best[name], rps)
                print(
                    f"round {round_ + 1} metrics {name:<3}: {rps:8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms"
                )
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "lakeplane_requests_total" in scraped, "no HTTP metrics on the metrics port"
        load = os.getloadavg()[0]
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
        pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end: {load:.1f}")
    print(
        f"metrics on/off: {best['on']:.0f} / {best['off']:.0f} req/s = {best['on'] / best['off']:.3f} (target >= 0.95)"
    )


if __name__ == "__main__":
    main()
