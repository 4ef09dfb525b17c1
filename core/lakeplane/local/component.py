"""One service of the local stack: how to prepare, start, probe and stop it.

A :class:`Component` owns a directory (``home``) holding its data, its log and the
record of the process it started. Starting is idempotent: a component whose recorded
process still runs is left alone. Health is always a real request against the service
(``SELECT 1``, a signed S3 call, a catalog call with a token, a Trino query), never just
"the process exists".
"""

from __future__ import annotations

import abc
import asyncio
import functools
import os
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import httpx

from lakeplane.local import processes
from lakeplane.local.errors import ComponentFailed
from lakeplane.local.ports import LOOPBACK, check_ports
from lakeplane.local.processes import ProcessRecord
from lakeplane.timeutil import elapsed_ms

#: Where progress lines go: the CLI prints them on stderr, tests may collect them.
Progress = Callable[[str], None]


def no_progress(_line: str) -> None:
    return None


class NotHealthy(Exception):
    """A probe's verdict: the service answered wrongly or not at all (message says how)."""


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    latency_ms: float | None = None


@dataclass(frozen=True)
class StartResult:
    name: str
    outcome: Literal["started", "already running", "external"]
    seconds: float
    pid: int | None
    endpoint: str


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    endpoint: str
    healthy: bool
    latency_ms: float | None
    detail: str
    #: Filled in for supervised components: restarts so far and how the last process ended.
    restarts: int = 0
    last_exit: str | None = None


class Component(abc.ABC):
    """A process the stack starts and stops; subclasses say how to run and probe it."""

    name: ClassVar[str]
    #: Seconds from spawning to healthy before :meth:`start` gives up.
    start_timeout: ClassVar[float] = 60.0
    stop_timeout: ClassVar[float] = 20.0
    stop_signal: ClassVar[int] = signal.SIGTERM
    probe_timeout: ClassVar[float] = 5.0
    poll_interval: ClassVar[float] = 0.25

    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def record_path(self) -> Path:
        return self.home / "process.json"

    @property
    def log_path(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def data_dir(self) -> Path:
        """Where the service keeps its data, for those that keep any."""
        return self.home / "data"

    @property
    @abc.abstractmethod
    def endpoint(self) -> str:
        """Where clients reach it, for status lines."""

    @abc.abstractmethod
    def ports(self) -> dict[str, int]:
        """Every loopback port it listens on, by the ``--port`` name that sets it."""

    @abc.abstractmethod
    def command(self) -> list[str]: ...

    @abc.abstractmethod
    async def probe(self) -> None:
        """Return when the service answers correctly; raise :class:`NotHealthy` otherwise."""

    async def prepare(self, progress: Progress) -> None:
        """Install and configure before the first (and every) start; must be idempotent."""
        return None

    async def after_start(self) -> None:
        """Run once the service is healthy after a fresh start (e.g. create a database)."""
        return None

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def run_as(self) -> str | None:
        """System user to run the process as; None for the current one."""
        return None

    def record(self) -> ProcessRecord | None:
        """The recorded process if it is still running, else None."""
        record = ProcessRecord.load(self.record_path)
        if record is None or not processes.is_alive(record):
            return None
        return record

    def is_running(self) -> bool:
        return self.record() is not None

    async def health(self) -> Health:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.probe(), self.probe_timeout)
        except TimeoutError:
            return Health(False, f"no answer within {self.probe_timeout:.0f}s")
        except Exception as exc:  # a probe may fail in any driver-specific way
            return Health(False, _one_line(exc))
        return Health(True, "ok", elapsed_ms(started))

    async def start(self, progress: Progress = no_progress) -> StartResult:
        """Start and wait until healthy; a component already running is only health-checked."""
        began = time.monotonic()
        running = self.record()
        if running is not None:
            await self._wait_healthy(running, began)
            return StartResult(
                self.name, "already running", time.monotonic() - began, running.pid, self.endpoint
            )
        check_ports(self.ports())
        self.home.mkdir(parents=True, exist_ok=True)
        await self.prepare(progress)
        progress(f"{self.name}: starting on {self.endpoint}")
        record = processes.spawn(
            self.command(), log_path=self.log_path, env=self.environment(), cwd=self.home, user=self.run_as()
        )
        record.save(self.record_path)
        await self._wait_healthy(record, began)
        await self.after_start()
        return StartResult(self.name, "started", time.monotonic() - began, record.pid, self.endpoint)

    async def stop(self) -> bool:
        """Stop the recorded process group; False when nothing of ours was running."""
        record = ProcessRecord.load(self.record_path)
        if record is None:
            return False
        stopped = await processes.stop(record, self.stop_signal, self.stop_timeout)
        self.record_path.unlink(missing_ok=True)
        return stopped

    async def status(self) -> ComponentStatus:
        record = self.record()
        if record is None:
            return ComponentStatus(self.name, False, None, self.endpoint, False, None, "not running")
        health = await self.health()
        return ComponentStatus(
            self.name, True, record.pid, self.endpoint, health.ok, health.latency_ms, health.detail
        )

    async def _wait_healthy(self, record: ProcessRecord, began: float) -> None:
        deadline = began + self.start_timeout
        while True:
            if not processes.is_alive(record):
                code = processes.exit_code(record)
                how = f" with code {code}" if code is not None else ""
                raise ComponentFailed(
                    f"{self.name} exited{how} while starting: {last_log_line(self.log_path)} "
                    f"(log: {self.log_path})"
                )
            health = await self.health()
            if health.ok:
                return
            if time.monotonic() > deadline:
                raise ComponentFailed(
                    f"{self.name} not healthy after {self.start_timeout:.0f}s: {health.detail} "
                    f"(log: {self.log_path})"
                )
            await asyncio.sleep(self.poll_interval)


class HttpComponent(Component):
    """A component serving HTTP on one loopback port, which ``--port`` names after it."""

    def __init__(self, home: Path, *, port: int) -> None:
        super().__init__(home)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def endpoint(self) -> str:
        return self.url

    def ports(self) -> dict[str, int]:
        return {self.name: self.port}


class BackgroundComponent(Component):
    """A process that serves nothing (the worker, the supervisor): healthy means it stays up."""

    #: It must have survived this long after starting to count as healthy.
    settle_seconds: ClassVar[float] = 1.0

    @property
    def endpoint(self) -> str:
        return "-"

    def ports(self) -> dict[str, int]:
        return {}

    async def probe(self) -> None:
        record = self.record()
        if record is None:
            raise NotHealthy("not running")
        age = time.time() - record.started_at
        if age < self.settle_seconds:
            raise NotHealthy(f"up for {age:.1f}s only")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client(timeout: float, base_url: str = "") -> httpx.AsyncClient:
    """An HTTP client for probes; the TLS context (costly to build) is made once per process."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=_tls_context(), trust_env=False)


def last_log_line(path: Path, limit: int = 240) -> str:
    """The last non-blank line of a log, shortened: the usual reason a process died."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16384))
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    except OSError:
        return "no log"
    meaningful = [line for line in lines if line and not line.startswith("===")]
    if not meaningful:
        return "empty log"
    line = meaningful[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first or type(exc).__name__
