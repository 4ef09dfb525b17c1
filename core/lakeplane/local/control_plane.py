"""The Lakeplane API and worker as stack components, run from this same installation.

Both are started with this interpreter (``python -m lakeplane.cli``), so the stack runs
exactly the code it was installed with. They are optional: a stack started with
``--without-api`` has only the data plane, and a command missing from this installation
is reported instead of failing the stack.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lakeplane.local.component import BackgroundComponent, HttpComponent, NotHealthy, Progress, http_client
from lakeplane.local.errors import ComponentFailed


def lakeplane_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lakeplane.cli", *args]


def available_commands() -> set[str]:
    """Top-level ``lakeplane`` subcommands in this installation (empty if the CLI cannot load)."""
    try:
        from lakeplane.cli import build_parser

        parser = build_parser()
    except Exception:  # a half-built CLI must not stop the data plane from starting
        return set()
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return set(choices)
    return set()


class LakeplaneApiComponent(HttpComponent):
    """``lakeplane serve``; the metadata database is migrated before each start."""

    name = "api"

    def __init__(self, home: Path, *, config_path: Path, port: int) -> None:
        super().__init__(home, port=port)
        self.config_path = config_path

    def command(self) -> list[str]:
        return lakeplane_command("serve", "--config", str(self.config_path))

    async def prepare(self, progress: Progress) -> None:
        progress(f"{self.name}: migrating the metadata database")
        argv = lakeplane_command("migrate", "--config", str(self.config_path))
        migrate = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await migrate.communicate()
        with self.log_path.open("ab") as log:
            log.write(output)
        if migrate.returncode != 0:
            lines = output.decode(errors="replace").strip().splitlines() or ["no output"]
            raise ComponentFailed(f"lakeplane migrate failed: {lines[-1]} (log: {self.log_path})")

    async def probe(self) -> None:
        async with http_client(self.probe_timeout) as client:
            response = await client.get(f"{self.url}/health/ready")
        if response.status_code != 200:
            raise NotHealthy(f"GET /health/ready answered HTTP {response.status_code}")


class LakeplaneWorkerComponent(BackgroundComponent):
    """``lakeplane worker``."""

    name = "worker"
    settle_seconds = 2.0

    def __init__(self, home: Path, *, config_path: Path) -> None:
        super().__init__(home)
        self.config_path = config_path

    def command(self) -> list[str]:
        return lakeplane_command("worker", "--config", str(self.config_path))
