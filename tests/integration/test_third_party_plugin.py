"""A plugin built and pip-installed from outside the repo is found and selectable by config alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN_SOURCE = '''
"""An outside engine: counts to a number."""
from typing import ClassVar

import msgspec

from lakeplane.hookspecs import hookimpl
from lakeplane.interfaces import CheckResult, Engine, EngineHandle, EngineState, EngineStatus, LogChunk


class CounterSpec(msgspec.Struct):
    upto: int = 3


class CounterParams(msgspec.Struct, forbid_unknown_fields=True):
    base: int = 0


class CounterOptions(msgspec.Struct, forbid_unknown_fields=True):
    speed: int = 1


class CounterEngine(Engine):
    name: ClassVar[str] = "counter"
    description: ClassVar[str] = "counts"
    Params = CounterParams
    Options = CounterOptions
    job_types = frozenset({"count"})

    @classmethod
    def spec_type(cls, job_type):
        return CounterSpec

    async def health(self):
        return CheckResult(ok=True, checks=[])

    async def validate(self):
        return CheckResult(ok=True, checks=[])

    async def submit(self, submission):
        return EngineHandle(engine="counter", id="c1")

    async def status(self, handle):
        return EngineStatus(EngineState.SUCCEEDED)

    async def cancel(self, handle):
        return None

    async def results(self, handle, limit=100):
        return None

    async def logs(self, handle, offset=0):
        return LogChunk(text="", offset=0)

    async def list_active(self):
        return []


@hookimpl
def lakeplane_register_engines(registry):
    registry.add(CounterEngine)
'''


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def test_outside_plugin_is_selectable_without_core_change(tmp_path: Path) -> None:
    dist = tmp_path / "lakeplane-counter"
    (dist / "lakeplane_counter").mkdir(parents=True)
    (dist / "lakeplane_counter" / "__init__.py").write_text(PLUGIN_SOURCE)
    (dist / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "lakeplane-counter"
            version = "1.2.3"
            dependencies = ["lakeplane"]

            [project.entry-points."lakeplane.plugins"]
            counter = "lakeplane_counter"
            """
        )
    )
    config = tmp_path / "lakeplane.toml"
    config.write_text(
        textwrap.dedent(
            """
            [database]
            url = "postgresql+asyncpg://u@127.0.0.1:1/db"
            [security]
            session_key = "4f9c1d2e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
            primary_key_id = "a"
            [security.encryption_keys]
            a = "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091"
            [engines.count]
            plugin = "counter"
            [engines.count.options]
            speed = 7
            """
        )
    )
    installed = run(
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(dist)
    )
    assert installed.returncode == 0, installed.stderr
    try:
        listed = run(sys.executable, "-m", "lakeplane.cli", "plugins", "--config", str(config))
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if " counter " in line)
        assert "yes" in row and "lakeplane-counter" in row and "1.2.3" in row

        checked = run(sys.executable, "-m", "lakeplane.cli", "config", "check", "--config", str(config))
        assert checked.returncode == 0, checked.stderr
        assert "speed = 7" in checked.stdout

        config.write_text(config.read_text().replace("speed = 7", 'speed = "fast"'))
        wrong = run(sys.executable, "-m", "lakeplane.cli", "config", "check", "--config", str(config))
        assert wrong.returncode == 1
        assert wrong.stderr.strip() == "lakeplane: error: engines.count.options.speed: expected int, got str"
    finally:
        run(sys.executable, "-m", "pip", "uninstall", "-y", "-q", "lakeplane-counter")
    gone = run(sys.executable, "-m", "lakeplane.cli", "plugins")
    assert " counter " not in gone.stdout
