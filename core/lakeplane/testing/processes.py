"""The ``lakeplane`` command as a child of a test: started in the background with its output
in a log file, or run to its end.

The child runs with this interpreter and this environment, less the ``LAKEPLANE_CONFIG`` a
developer may have set: each test names its config file with ``--config``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["LAKEPLANE", "child_env", "run_lakeplane", "start_lakeplane"]

#: The ``lakeplane`` command, run by this interpreter.
LAKEPLANE = (sys.executable, "-m", "lakeplane.cli")


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``LAKEPLANE_CONFIG``, with ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if k != "LAKEPLANE_CONFIG"}
    return {**env, **(extra or {})}


def start_lakeplane(
    args: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``lakeplane *args`` in the background, unbuffered, its output and errors written to
    ``log``; ``env`` adds variables to its environment."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*LAKEPLANE, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env({"PYTHONUNBUFFERED": "1", **(env or {})}),
        )


async def run_lakeplane(*args: str, kill_after_s: float = 120) -> tuple[int, str, str]:
    """``lakeplane *args`` to its end: its exit code, output and errors. One still running
    after ``kill_after_s`` seconds is killed and fails the test."""
    proc = await asyncio.create_subprocess_exec(
        *LAKEPLANE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env()
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), kill_after_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"lakeplane {' '.join(args)} did not stop in {kill_after_s:g} s") from None
    return proc.returncode or 0, out.decode(), err.decode()
