"""API throughput: a bare Litestar JSON endpoint against GET /api/v1/workspaces/{ws}/connections.

Both served by uvicorn (one process each, same settings) on loopback, loaded by wrk with
32 connections, in one run; the list endpoint returns 50 connections from a real Postgres
through the full stack (bearer token check, role lookup, query, serialisation).
Target: the list endpoint keeps at least 50% of the bare endpoint's requests/s, p99 < 50 ms.
Also printed: the load average before and after, and the CPU time the API process spent per
list request (from /proc), which a busy machine disturbs much less than requests/s.

    .venv/bin/python bench/api.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_user

BARE_APP = textwrap.dedent(
    """
    from litestar import Litestar, get

    @get("/bare")
    async def bare() -> dict[str, object]:
        return {"items": [{"id": i, "name": f"c{i}"} for i in range(50)], "next_cursor": None}

    app = Litestar([bare], debug=False)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, where /proc has it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, headers: dict[str, str]) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from wrk --latency."""
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url]
    for key, value in headers.items():
        args[1:1] = ["-H", f"{key}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]

    def pct(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx[1]} failed responses")
    return rps, pct("50"), pct("99")


async def prepare(server_url: str) -> tuple[str, str, str]:
    from lakeplane.testing.app import make_config

    db_url = await create_database(server_url, prefix="lp_bench")
    config = make_config(db_url)
    lp = Services.build(config)
    async with lp.sessions() as db:
        _, token = await make_user(db, "bench-admin", is_admin=True)
    await lp.engine.dispose()
    config_text = textwrap.dedent(
        f"""
        [database]
        url = "{db_url}"
        pool_size = 20
        [security]
        session_key = "{config.security.session_key}"
        primary_key_id = "k1"
        [security.encryption_keys]
        k1 = "{config.security.encryption_keys["k1"]}"
        """
    )
    return db_url, token, config_text


def start_database(prefix: str) -> tuple[Path, Any, str, str]:
    """A work directory, an embedded PostgreSQL in it, an admin token and the config text."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    import pgserver

    work = Path(tempfile.mkdtemp(prefix=prefix))
    pg = pgserver.get_server(str(work / "pg"), cleanup_mode="stop")
    server_url = f"postgresql+asyncpg://postgres@/postgres?host={work / 'pg'}"
    _, token, config_text = asyncio.run(prepare(server_url))
    return work, pg, token, config_text


def serve(config_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LAKEPLANE_CONFIG": str(config_path)}
    return subprocess.Popen(
        [sys.executable, "-m", "lakeplane.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed_connections(base: str, auth: dict[str, str]) -> str:
    """A workspace with 50 S3 connections; the path that lists them in one page."""
    ws = httpx.post(f"{base}/api/v1/workspaces", json={"slug": "bench", "name": "bench"}, headers=auth).json()
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
                    "access_key_id": f"key{i}",
                    "secret_access_key": f"secret-{i}-value",
                },
            },
        ).raise_for_status()
    return f"/api/v1/workspaces/{ws['id']}/connections?limit=50"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    work, pg, token, config_text = start_database("lp-bench-api-")
    config_path = work / "lakeplane.toml"
    config_path.write_text(config_text)
    (work / "bare_app.py").write_text(BARE_APP)

    api_port, bare_port = free_port(), free_port()
    api = serve(config_path, api_port)
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        auth = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/health/live")
        wait_http(f"http://127.0.0.1:{bare_port}/bare")
        list_url = base + seed_connections(base, auth)
        assert len(httpx.get(list_url, headers=auth).json()["items"]) == 50
        wrk(f"http://127.0.0.1:{bare_port}/bare", 2, {})  # warm-up
        wrk(list_url, 2, auth)
        load_before = os.getloadavg()[0]
        bare_rps, bare_p50, bare_p99 = wrk(f"http://127.0.0.1:{bare_port}/bare", args.seconds, {})
        cpu_before = cpu_seconds(api.pid)
        list_rps, list_p50, list_p99 = wrk(list_url, args.seconds, auth)
        cpu_after = cpu_seconds(api.pid)
        load_after = os.getloadavg()[0]
    finally:
        api.terminate()
        bare.terminate()
        api.wait()
        bare.wait()
        pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'endpoint':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'bare Litestar JSON':<34} {bare_rps:>9.0f} {bare_p50:>8.2f} {bare_p99:>8.2f}")
    print(f"{'GET connections (50 rows, auth)':<34} {list_rps:>9.0f} {list_p50:>8.2f} {list_p99:>8.2f}")
    ratio = list_rps / bare_rps
    print(
        f"ratio list/bare throughput: {ratio:.2f} (target >= 0.50); list p99 {list_p99:.1f} ms (target < 50)"
    )
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        print(
            f"API process CPU per list request: {1000 * used / (list_rps * args.seconds):.2f} ms "
            f"({100 * used / args.seconds:.0f}% of one core)"
        )
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
