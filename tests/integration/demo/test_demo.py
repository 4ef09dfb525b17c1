"""`lakeplane demo` on its own embedded stack, small data: Spark writes Iceberg, Trino aggregates it."""

from __future__ import annotations

import contextlib
import random
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lakeplane.local.stack import DEFAULT_PORTS

pytestmark = [pytest.mark.trino, pytest.mark.spark]
ROWS = 600


def free_port() -> int:
    """A free port below 55535: SeaweedFS also takes the port 10000 above each of its own."""
    while True:
        port = random.randrange(20_000, 55_000)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port


def lakeplane(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakeplane.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def result_rows(stdout: str) -> dict[str, int]:
    """region → readings, from the table the demo prints."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^(central|east|north|south|west)\s+(\d+)\s+\d+\s+[\d.]+\s+[\d.]+\s*$", line)
        if match:
            rows[match[1]] = int(match[2])
    return rows


def test_demo_runs_end_to_end_and_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    ports = [f"--port={name}={free_port()}" for name in DEFAULT_PORTS]
    try:
        up = lakeplane("local", "up", "--data-dir", str(data_dir), *ports)
        assert up.returncode == 0, up.stderr[-3000:]

        first = lakeplane("demo", "--data-dir", str(data_dir), "--rows", str(ROWS))
        assert first.returncode == 0, (first.stdout[-3000:], first.stderr[-3000:])
        written = re.search(r"ingest succeeded: (\d+) rows written, (\d+) rejected", first.stdout)
        assert written is not None, first.stdout
        good, bad = int(written[1]), int(written[2])
        assert good + bad == ROWS
        assert bad > 0  # the sample holds deliberately broken rows; they go to the rejects table
        counts = result_rows(first.stdout)
        assert sum(counts.values()) == good, first.stdout
        assert "UI: http://127.0.0.1:" in first.stdout
        assert (data_dir / "admin-password").stat().st_mode & 0o077 == 0

        again = lakeplane("demo", "--data-dir", str(data_dir), "--rows", str(ROWS))
        assert again.returncode == 0, (again.stdout[-3000:], again.stderr[-3000:])
        assert result_rows(again.stdout) == counts
        assert "created workspace" not in again.stdout
    finally:
        down = lakeplane("local", "down", "--data-dir", str(data_dir), timeout=300)
        assert down.returncode == 0, down.stderr
