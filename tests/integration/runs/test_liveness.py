"""Worker and scheduler liveness come from their own loops; readiness from the database.

With PostgreSQL stopped, both processes stay up and ``lakeplane health --live`` still passes,
while the database check fails; a stopped (SIGSTOP) process fails liveness.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from lakeplane.liveness import age
from lakeplane.testing.processes import run_lakeplane, start_lakeplane

from .conftest import make_env


async def health(config: Path, component: str, *extra: str) -> tuple[int, str]:
    argv = ["health", "--component", component, "--config", str(config), "--timeout", "3", *extra]
    rc, out, err = await run_lakeplane(*argv, kill_after_s=60)
    return rc, out + err


def start(config: Path, tmp_path: Path, component: str) -> tuple[subprocess.Popen[bytes], Path]:
    beat = tmp_path / f"{component}.heartbeat"
    argv = [component, "--config", str(config), "--heartbeat-file", str(beat)]
    return start_lakeplane(argv, tmp_path / f"{component}.log"), beat


async def fresh(beat: Path, within: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (seconds := age(beat)) is None or seconds > within:
        assert time.monotonic() < deadline, f"no fresh heartbeat in {beat}"
        await asyncio.sleep(0.2)


@pytest.mark.outage
async def test_a_database_outage_leaves_worker_and_scheduler_alive(
    postgres_service: Any, tmp_path: Path
) -> None:
    env = await make_env(postgres_service.url, tmp_path)
    await env.lp.engine.dispose()
    procs = {}
    try:
        for component in ("worker", "scheduler"):
            procs[component] = start(env.config_path, tmp_path, component)
        for component, (_, beat) in procs.items():
            await fresh(beat, 2.0)
            beat_arg = ("--heartbeat-file", str(beat))
            assert (await health(env.config_path, component, "--live", *beat_arg))[0] == 0
            rc, out = await health(env.config_path, component)
            assert rc == 0, out

        await asyncio.to_thread(postgres_service.stop)
        try:
            await asyncio.sleep(3)
            for component, (proc, beat) in procs.items():
                assert proc.poll() is None, f"{component} exited during the outage"
                rc, out = await health(env.config_path, component, "--live", "--heartbeat-file", str(beat))
                assert rc == 0 and "alive" in out, out
                rc, out = await health(env.config_path, component)
                assert rc == 1, f"{component} readiness passed with the database down: {out}"
        finally:
            await asyncio.to_thread(postgres_service.start)

        worker, beat = procs["worker"]
        worker.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(3)
            rc, out = await health(
                env.config_path, "worker", "--live", "--heartbeat-file", str(beat), "--max-age", "2"
            )
            assert rc == 1 and "last heartbeat" in out, out
        finally:
            worker.send_signal(signal.SIGCONT)
        await fresh(beat, 2.0)
        rc, out = await health(
            env.config_path, "worker", "--live", "--heartbeat-file", str(tmp_path / "none")
        )
        assert rc == 1 and "no heartbeat" in out, out
    finally:
        for proc, _ in procs.values():
            proc.kill()
            proc.wait(timeout=10)
