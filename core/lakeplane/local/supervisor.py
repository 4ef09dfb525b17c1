"""Keeps the stack's control plane (API, worker) running: a crashed one is started again.

``lakeplane local up`` starts one supervisor per data directory, as a process of its own
(``python -m lakeplane.local.supervisor DATA_DIR``) recorded in ``supervisor/``. Every
second it looks at each supervised component: one whose process record is still there (so
``down`` did not stop it) but whose process is gone at two checks in a row has crashed, and
is started again, at once the first time and then after a backoff that doubles up to :data:`MAX_BACKOFF_S`; the
backoff resets once a component has stayed up for :data:`STABLE_AFTER_S`.

Per component, ``<component>/supervisor.json`` holds the restart count and the last exit
(the exit code of a process the supervisor started itself; a process it inherited from
``up`` is not its child, so its code is unknown). ``local status`` shows both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from lakeplane.local import processes
from lakeplane.local.component import BackgroundComponent, Component
from lakeplane.local.processes import ProcessRecord, write_private

log = logging.getLogger("lakeplane.local.supervisor")

SUPERVISED = ("api", "worker")
CHECK_INTERVAL_S = 1.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0
STATE_FILE = "supervisor.json"


@dataclass
class Supervision:
    """What the supervisor knows of one component, kept in ``<component>/supervisor.json``."""

    restarts: int = 0
    last_exit: str | None = None
    last_restart_at: float | None = None
    consecutive: int = 0

    @classmethod
    def load(cls, home: Path) -> Supervision:
        try:
            raw = json.loads((home / STATE_FILE).read_text())
            return cls(
                restarts=int(raw.get("restarts", 0)),
                last_exit=raw.get("last_exit"),
                last_restart_at=raw.get("last_restart_at"),
                consecutive=int(raw.get("consecutive", 0)),
            )
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, home: Path) -> None:
        write_private(home / STATE_FILE, json.dumps(asdict(self)) + "\n")


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exited (code unknown)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    def __init__(self, components: Sequence[Component]) -> None:
        self.components = list(components)
        self._stopping = asyncio.Event()
        self._next_try: dict[str, float] = {}
        self._dead_seen: dict[str, int] = {}

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            for component in self.components:
                try:
                    await self.check(component)
                except Exception:  # one component's trouble must not stop the others' supervision
                    log.exception("%s: supervision failed", component.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), CHECK_INTERVAL_S)

    async def check(self, component: Component) -> None:
        recorded = ProcessRecord.load(component.record_path)
        if recorded is None:
            return  # stopped on purpose (``down``), or never started
        if processes.is_alive(recorded):
            state = Supervision.load(component.home)
            if state.consecutive and time.time() - recorded.started_at > STABLE_AFTER_S:
                state.consecutive = 0
                state.save(component.home)
            return
        # Seen gone twice, a check apart, with its record still there: a stop in progress
        # (``down`` removes the record once the process has exited) is not a crash.
        if self._dead_seen.get(component.name) != recorded.pid:
            self._dead_seen[component.name] = recorded.pid
            return
        now = time.monotonic()
        if now < self._next_try.get(component.name, 0.0):
            return
        self._dead_seen.pop(component.name, None)
        state = Supervision.load(component.home)
        state.last_exit = describe_exit(processes.exit_code(recorded))
        backoff = min(FIRST_BACKOFF_S * 2 ** max(state.consecutive - 1, 0), MAX_BACKOFF_S)
        state.restarts += 1
        state.consecutive += 1
        state.last_restart_at = time.time()
        state.save(component.home)
        log.warning("%s: %s; starting it again (restart %d)", component.name, state.last_exit, state.restarts)
        component.record_path.unlink(missing_ok=True)
        self._next_try[component.name] = now + backoff
        try:
            await component.start(lambda line: log.info("%s", line))
        except Exception as exc:
            log.error("%s: restart failed: %s; next try in %.0fs", component.name, exc, backoff)


def supervisor_home(data_dir: Path) -> Path:
    return data_dir / "supervisor"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeplane.local.supervisor")
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from lakeplane.local.stack import LocalStack

    stack = LocalStack(args.data_dir)
    components = [c for c in stack.components() if c.name in SUPERVISED]
    supervisor = Supervisor(components)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, supervisor.stop)
        log.info("supervising %s in %s", ", ".join(c.name for c in components), args.data_dir)
        await supervisor.run()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())


class SupervisorComponent(BackgroundComponent):
    """The supervisor as a stack process: started by ``up`` after the control plane, stopped first by ``down``."""

    name = "supervisor"
    settle_seconds = 1.0

    def __init__(self, home: Path, *, stack_dir: Path) -> None:
        super().__init__(home)
        self.stack_dir = stack_dir

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lakeplane.local.supervisor", str(self.stack_dir)]
