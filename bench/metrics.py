"""API requests/s with Prometheus metrics on against off, in one run.

Two ``lakeplane serve`` processes on the same database, one with ``[metrics] enabled`` (HTTP
metrics by route template, its listener on a port of its own), one without, loaded in turn
by wrk (32 connections) on GET /api/v1/workspaces/{ws}/connections (50 rows, bearer token):
off, on, off, on, and the best round of each is kept. Target: on/off at least 0.95.

    .venv/bin/python bench/metrics.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from api import free_port, seed_connections, serve, start_database, wait_http, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work, pg, token, config_text = start_database("lp-bench-metrics-")
    off_config, on_config = work / "off.toml", work / "on.toml"
    off_config.write_text(config_text)
    metrics_port = free_port()
    on_config.write_text(config_text + f"\n[metrics]\nenabled = true\nport = {metrics_port}\n")
    ports = {"off": free_port(), "on": free_port()}
    servers = {name: serve(path, ports[name]) for name, path in (("off", off_config), ("on", on_config))}
    auth = {"Authorization": f"Bearer {token}"}
    best = {"off": 0.0, "on": 0.0}
    try:
        for port in ports.values():
            wait_http(f"http://127.0.0.1:{port}/health/live")
        path = seed_connections(f"http://127.0.0.1:{ports['off']}", auth)
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
