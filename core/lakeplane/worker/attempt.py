# Long module: an attempt's steps share its lease, buffered log and redactor, and read best in order.
"""One attempt of one run: submit (or re-attach), poll, cancel on stop or timeout, record.

The order of writes is what makes a crash anywhere recoverable:

1. the claim (or adoption) commits a lease token;
2. the engine accepts the work and the handle is stored, fenced by that token,
   *before* the first poll, so whoever holds the run next re-attaches to the same
   engine work instead of starting it twice (work started but never stored is found
   again by its ``lakeplane-run`` tag through ``list_active``);
3. the log is copied to the object store, then the outcome, the log's address and
   checksum, the transition and its audit event commit together, fenced again.

Writes go through the worker's :class:`~lakeplane.worker.recorder.Recorder`, which
commits the writes of many attempts together. A write that finds the token changed
means another worker adopted the run: this attempt stands down without touching
anything (:class:`LeaseLost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import msgspec

from lakeplane import logs, metrics
from lakeplane.db.models import Connection, Job, JobVersion, Run
from lakeplane.domain import audit
from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets import services as datasets
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.runs import logstore, repository
from lakeplane.domain.runs.lifecycle import Finish, RetryPolicy, RunState, decide
from lakeplane.errors import LakeplaneError
from lakeplane.interfaces import (
    Engine,
    EngineHandle,
    EngineState,
    Identifier,
    MaintenanceSpec,
    ResultPreview,
    Submission,
)
from lakeplane.runtime import Services
from lakeplane.security.redact import Redactor
from lakeplane.timeutil import utcnow
from lakeplane.worker import engines
from lakeplane.worker.faults import crash_point
from lakeplane.worker.queue import Lease
from lakeplane.worker.recorder import LeaseLost, Recorder, Write, transient

log = logging.getLogger("lakeplane.worker")
T = TypeVar("T")

#: Engine output is pulled into the run log this often while the work runs.
LOG_PULL_S = 2.0
#: Consecutive failed status calls after which the engine counts as unreachable.
MAX_STATUS_FAILURES = 30
PREVIEW_ROWS = 100
UPLOAD_TIMEOUT_S = 15.0


@dataclasses.dataclass
class Context:
    """What every attempt of one worker process shares."""

    lp: Services
    owner: str
    actor: audit.Actor
    lease_s: float
    poll_max_s: float
    keep_logs: bool
    stopping: asyncio.Event
    recorder: Recorder
    engines: engines.Engines


@dataclasses.dataclass
class Loaded:
    run: Run
    job: Job
    version: JobVersion
    connection: Connection | None
    #: The workspace's slug: engines name things after it (Kubernetes namespaces).
    workspace_slug: str


class Attempt:
    def __init__(self, ctx: Context, lease: Lease, loaded: Loaded | None = None) -> None:
        self.ctx = ctx
        self.lease = lease
        #: Set when a stop was requested (NOTIFY, heartbeat or the run row).
        self.stop = asyncio.Event()
        #: Set when the heartbeat found the lease gone.
        self.lost = asyncio.Event()
        self.redact = Redactor()
        self._lines: list[str] = []
        self._engine_log_offset = 0
        self._loaded = loaded

    @property
    def run_id(self) -> str:
        return self.lease.run_id

    def note(self, message: str) -> None:
        """A worker message for the run's log (buffered; written with the next fenced write)."""
        self._lines.append(repository.log_text(self.redact(message)))

    async def execute(self) -> None:
        logs.run_id.set(self.run_id)  # this attempt's own task: its log lines carry the run id
        try:
            await self._execute()
        except LeaseLost:
            metrics.LEASE_LOSSES.inc()
            log.info("run %s: lease lost; another worker holds it now", self.run_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run %s: attempt %s crashed in the worker", self.run_id, self.lease.attempt)
            if self._loaded is not None:
                try:
                    await self._finish(
                        self._loaded, Finish(RunState.FAILED, f"worker error: {self._describe(exc)}")
                    )
                except Exception:
                    log.exception("run %s: could not record the failure; the lease will expire", self.run_id)

    async def _execute(self) -> None:
        if self._loaded is None:
            self._loaded = await self._db(self._load)
        loaded = self._loaded
        run = loaded.run
        if run.stop_requested:
            self.stop.set()
        if self.lease.attempt == 1 and not self.lease.adopted and run.started_at and run.created_at:
            metrics.QUEUE_WAIT.labels(run.queue).observe(
                max(0.0, (run.started_at - run.created_at).total_seconds())
            )
        if self.lease.adopted:
            crash_point("after_adopt")
        if loaded.connection is not None:
            self.redact = await connections.redactor_for(self.ctx.lp, loaded.connection)
        async with contextlib.AsyncExitStack() as stack:
            try:
                engine = await stack.enter_async_context(self.ctx.engines.borrow(self._engine_source(loaded)))
                if loaded.job.type not in engine.job_types:
                    raise TypeError(f"connection does not run {loaded.job.type} jobs")
            except Exception as exc:
                metrics.ENGINE_ERRORS.labels(_plugin_label(loaded)).inc()
                await self._finish(
                    loaded, Finish(RunState.FAILED, f"could not set up the engine: {self._describe(exc)}")
                )
                return
            handle = EngineHandle(**run.engine_handle) if run.engine_handle else None
            if handle is None and self.stop.is_set():
                await self._finish(loaded, Finish(RunState.CANCELLED, "stopped before the engine started"))
                return
            if handle is None and self.lease.adopted:
                handle = await self._find_tagged(engine)
                if handle is not None:
                    self.note(f"attempt {self.lease.attempt}: found engine work {handle.id} by its run tag")
                    await self._save_handle(handle)
            if handle is None:
                handle = await self._submit(engine, loaded)
                if handle is None:
                    return
            elif run.engine_handle:
                self.note(f"attempt {self.lease.attempt}: re-attached to engine work {handle.id}")
            ended = await self._poll(engine, handle, run.deadline_at)
            crash_point("before_finish")
            await self._finish(loaded, ended, engine, handle)

    # -- engine ---------------------------------------------------------------------

    def _engine_source(self, loaded: Loaded) -> engines.Source:
        """The run's connection as last updated, or the engine the config enables for its job type."""
        if loaded.connection is not None:
            return engines.from_connection(self.ctx.lp, loaded.connection)
        return engines.from_config(jobs.engine_for(self.ctx.lp, loaded.job.type))

    async def _submit(self, engine: Engine, loaded: Loaded) -> EngineHandle | None:
        """Start the work and store its handle; ``None`` if the engine refused (the run is then finished)."""
        crash_point("after_claim")
        try:
            selected = jobs.engine_for(self.ctx.lp, loaded.job.type)
            spec = jobs.decode_spec(selected, loaded.job.type, loaded.version.definition)
            parameters = jobs.engine_values(loaded.version.parameters, loaded.run.parameters)
        except Exception as exc:
            await self._finish(
                loaded, Finish(RunState.FAILED, f"the engine refused the job: {self._describe(exc)}")
            )
            return None
        if isinstance(spec, MaintenanceSpec):
            saved = spec
            try:
                spec, table = await self._db(lambda: self._resolve_maintenance(loaded, saved))
            except LakeplaneError as exc:
                await self._finish(loaded, Finish(RunState.FAILED, f"maintenance refused: {exc.detail}"))
                return None
            parameters = {"table": table}
            self.note(f"maintenance of {table}: {msgspec.json.encode(spec).decode()}")
        try:
            submission = Submission(
                run_id=self.run_id,
                attempt=self.lease.attempt,
                workspace=loaded.workspace_slug,
                job_type=loaded.job.type,
                spec=spec,
                parameters=parameters,
                tags={"lakeplane-run": self.run_id},
                timeout_s=loaded.version.timeout_s,
            )
            handle = await engine.submit(submission)
        except Exception as exc:
            await self._finish(
                loaded, Finish(RunState.FAILED, f"the engine refused the job: {self._describe(exc)}")
            )
            return None
        crash_point("after_submit")
        self.note(
            f"attempt {self.lease.attempt} on {self.ctx.owner}: submitted to {engine.name} as {handle.id}"
        )
        await self._save_handle(handle)
        crash_point("after_handle")
        return handle

    async def _resolve_maintenance(
        self, loaded: Loaded, spec: MaintenanceSpec
    ) -> tuple[MaintenanceSpec, Identifier]:
        """The dataset's hold and policy as they are now, not as when the job was saved."""
        async with self.ctx.lp.sessions() as db:
            return await datasets.resolve_maintenance(db, loaded.job.workspace_id, spec)

    async def _find_tagged(self, engine: Engine) -> EngineHandle | None:
        try:
            for work in await engine.list_active():
                if work.run_id == self.run_id:
                    return work.handle
        except Exception as exc:
            self.note(f"could not list the engine's active work: {self._describe(exc)}")
        return None

    async def _poll(self, engine: Engine, handle: EngineHandle, deadline: dt.datetime | None) -> Finish:
        delay, failures, last_pull = 0.005, 0, time.monotonic()
        while True:
            if self.lost.is_set():
                raise LeaseLost
            if self.stop.is_set():
                await engine.cancel(handle)
                crash_point("after_cancel")
                return Finish(RunState.CANCELLED, "stopped on request")
            if deadline is not None and utcnow() >= deadline:
                await engine.cancel(handle)
                crash_point("after_cancel")
                return Finish(RunState.TIMED_OUT, "the run exceeded its timeout")
            try:
                status = await engine.status(handle)
                failures = 0
            except Exception as exc:
                failures += 1
                if failures >= MAX_STATUS_FAILURES:
                    return Finish(RunState.FAILED, f"engine unreachable: {self._describe(exc)}")
                self.note(f"engine status failed ({failures}): {self._describe(exc)}")
                status = None
            if status is not None and status.state.terminal:
                return self._ended_as(status.state, status.message, status.stats)
            if time.monotonic() - last_pull >= LOG_PULL_S:
                last_pull = time.monotonic()
                await self._pull_logs(engine, handle)
                await self._db(self._flush)
            wait = delay
            if deadline is not None:
                wait = max(0.0, min(wait, (deadline - utcnow()).total_seconds()))
            await _wait_any((self.stop, self.lost), wait, engine.wait(handle, wait))
            delay = min(delay * 2, self.ctx.poll_max_s)

    def _ended_as(self, state: EngineState, message: str, stats: dict[str, Any]) -> Finish:
        message = self.redact(message) if message else ""
        if state is EngineState.SUCCEEDED:
            return Finish(RunState.SUCCEEDED, message or None, stats)
        if state is EngineState.LOST:
            return Finish(RunState.FAILED, "lost", stats)
        if state is EngineState.CANCELLED:
            return Finish(
                RunState.FAILED, f"cancelled outside Lakeplane{': ' + message if message else ''}", stats
            )
        return Finish(RunState.FAILED, message or "the engine reported failure", stats)

    async def _pull_logs(self, engine: Engine, handle: EngineHandle) -> None:
        try:
            chunk = await engine.logs(handle, self._engine_log_offset)
        except Exception as exc:
            self.note(f"could not read engine logs: {self._describe(exc)}")
            return
        if chunk.text:
            self._lines.append(self.redact(chunk.text if chunk.text.endswith("\n") else chunk.text + "\n"))
        self._engine_log_offset = chunk.offset

    # -- recording --------------------------------------------------------------------

    async def _finish(
        self,
        loaded: Loaded,
        ended: Finish,
        engine: Engine | None = None,
        handle: EngineHandle | None = None,
    ) -> None:
        """Store a retry or the end, as :func:`~lakeplane.domain.runs.lifecycle.decide` says.

        ``ended.stats`` are the engine's; the run keeps them under ``engine``.
        """
        run, version = loaded.run, loaded.version
        preview: ResultPreview | None = None
        if engine is not None and handle is not None:
            if ended.state == RunState.SUCCEEDED:
                try:
                    preview = await engine.results(handle, PREVIEW_ROWS)
                except Exception as exc:
                    self.note(f"could not read the result preview: {self._describe(exc)}")
            await self._pull_logs(engine, handle)
        finish = decide(
            dataclasses.replace(
                ended, stats={**(run.stats or {}), "engine": ended.stats, "worker": self.ctx.owner}
            ),
            self.lease.attempt,
            RetryPolicy(run.max_attempts, version.retry_backoff_s),
            stop_requested=self.stop.is_set(),
        )
        if preview is not None:
            builtins = msgspec.to_builtins(preview)
            finish = dataclasses.replace(
                finish,
                preview={"columns": builtins["columns"], "rows": builtins["rows"]},
                row_count=preview.row_count,
            )
        summary = f"{ended.state}: {ended.reason}" if ended.reason else ended.state
        self.note(f"attempt {self.lease.attempt} ended: {summary}")
        log_uri, log_sha256 = await self._upload()
        await self._record(finish=dataclasses.replace(finish, log_uri=log_uri, log_sha256=log_sha256))
        if run.started_at is not None:
            elapsed = max(0.0, (utcnow() - run.started_at).total_seconds())
            metrics.RUN_DURATION.labels(loaded.job.type, ended.state).observe(elapsed)

    async def _upload(self) -> tuple[str | None, str | None]:
        if not self.ctx.keep_logs:
            return None, None

        async def stored() -> list[str]:
            async with self.ctx.lp.sessions() as db:
                return await repository.logged(db, self.run_id)

        data = "".join([*(await self._db(stored)), *self._lines]).encode()
        try:
            async with asyncio.timeout(UPLOAD_TIMEOUT_S):
                return await logstore.upload(self.ctx.lp, self.lease.workspace_id, self.run_id, data)
        except Exception as exc:
            self.note(f"could not copy the log to the object store: {self._describe(exc)}")
            return None, None

    async def _save_handle(self, handle: EngineHandle) -> None:
        await self._record(handle=msgspec.to_builtins(handle))

    async def _flush(self) -> None:
        if self._lines:
            await self._record()

    async def _record(self, *, handle: dict[str, Any] | None = None, finish: Finish | None = None) -> None:
        """Commit the buffered log lines, with a handle or the outcome, through the worker's recorder."""
        assert self._loaded is not None
        taken = len(self._lines)
        write = Write(
            run_id=self.run_id,
            workspace_id=self.lease.workspace_id,
            queue=self._loaded.run.queue,
            attempt=self.lease.attempt,
            token=self.lease.token,
            worker=self.ctx.owner,
            lines=self._lines[:taken],
            handle=handle,
            finish=finish,
        )
        await self._db(lambda: self.ctx.recorder.write(write))
        del self._lines[:taken]

    async def _load(self) -> Loaded:
        loaded = (await load(self.ctx.lp, [self.lease])).get(self.run_id)
        if loaded is None:
            raise LeaseLost
        return loaded

    async def _db(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, retrying while the database is unreachable (the lease fences the result)."""
        delay = 0.1
        while True:
            try:
                return await operation()
            except LeaseLost:
                raise
            except Exception as exc:
                if not transient(exc) or self.lost.is_set():
                    raise
                if self.ctx.stopping.is_set():
                    raise LeaseLost from exc
                log.warning("run %s: database unavailable (%s); retrying", self.run_id, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _describe(self, exc: BaseException) -> str:
        detail = getattr(exc, "detail", None)
        return self.redact(detail if isinstance(detail, str) else f"{type(exc).__name__}: {exc}")


async def load(lp: Services, leases: list[Lease]) -> dict[str, Loaded]:
    """What the attempts of ``leases`` need, in one query; a run no longer held by its lease is left out."""
    async with lp.sessions() as db:
        rows = await repository.attempts_of(db, {lease.run_id: lease.token for lease in leases})
    return {run.id: Loaded(run, job, version, conn, slug) for run, job, version, conn, slug in rows}


async def _wait_any(
    events: tuple[asyncio.Event, ...], seconds: float, also: Coroutine[Any, Any, None] | None = None
) -> None:
    """Sleep up to ``seconds``, waking early when any event is set or ``also`` returns."""
    if any(e.is_set() for e in events):
        if also is not None:
            also.close()
        return
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(e.wait()) for e in events]
    if also is not None:
        waiters.append(asyncio.ensure_future(also))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _plugin_label(loaded: Loaded) -> str:
    """The engine plugin's name: from the run's connection, else its job type (both bounded)."""
    return loaded.connection.plugin if loaded.connection is not None else loaded.job.type
