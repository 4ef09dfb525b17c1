"""One worker process: four loops around a set of running attempts.

- **dispatch**: claims queued runs while it has free slots; sleeps until a NOTIFY
  (a submit, a finished run) or ``poll_interval_s``;
- **heartbeat**: renews every held lease in one statement, learns of stop requests
  and of leases taken over by another worker;
- **reconcile**: adopts running runs whose lease expired (their worker died or
  hung);
- **sweep**: under an advisory lock, so one worker at a time does it, cancels
  engine work whose run has already ended;
- **listen**: a dedicated connection LISTENing for submits and stop requests;
- **recorder**: commits the attempts' writes, batched (:mod:`lakeplane.worker.recorder`).

SIGTERM (or SIGINT) drains: no new claims, running attempts finish; whatever is
still running after ``drain_timeout_s`` has its lease expired on purpose so another
worker adopts it at once, and the engine work carries on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.engine import make_url

from lakeplane import metrics
from lakeplane.domain import audit
from lakeplane.domain.runs import logstore, repository
from lakeplane.domain.runs.lifecycle import TERMINAL, RunState
from lakeplane.domain.runs.repository import QUEUE_CHANNEL, STOP_CHANNEL
from lakeplane.interfaces import ActiveWork
from lakeplane.liveness import Heartbeat
from lakeplane.runtime import Services
from lakeplane.worker import engines, queue
from lakeplane.worker.attempt import Attempt, Context, Loaded, load
from lakeplane.worker.recorder import Recorder, transient

log = logging.getLogger("lakeplane.worker")

#: Engine work is compared with run states this often (seconds), by one worker at a time.
SWEEP_INTERVAL_S = 10.0
ADOPT_BATCH = 100
#: How soon to claim again after another worker held the workspaces (its claim takes a few ms).
CONTENDED_RETRY_S = 0.005


class Worker:
    def __init__(
        self,
        lp: Services,
        *,
        queues: list[str] | None = None,
        concurrency: int | None = None,
        name: str | None = None,
        drain_timeout_s: float = 30.0,
        workspace_limit: int | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        cfg = lp.config.worker
        self.lp = lp
        self.liveness = heartbeat or Heartbeat(None)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.queues = queues or sorted(cfg.queues)
        self.concurrency = concurrency or cfg.concurrency
        self.lease_s = cfg.lease_seconds
        self.poll_s = cfg.poll_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.limits = queue.Limits(
            queues=dict(cfg.queues),
            workspace=workspace_limit or cfg.workspace_limit or sum(cfg.queues.values()),
        )
        self.actor = audit.Actor.system(f"worker {self.name}")
        self.recorder = Recorder(lp, self.actor)
        self.attempts: dict[str, tuple[Attempt, asyncio.Task[None]]] = {}
        self.wake = asyncio.Event()
        self.draining = asyncio.Event()
        self.stopping = asyncio.Event()
        self.ctx = Context(
            lp=lp,
            owner=self.name,
            actor=self.actor,
            lease_s=self.lease_s,
            poll_max_s=max(self.poll_s, 0.05) * 5,
            keep_logs=_store_configured(lp),
            stopping=self.stopping,
            recorder=self.recorder,
            engines=engines.Engines(),
        )

    # -- lifecycle --------------------------------------------------------------------

    def drain(self) -> None:
        if not self.draining.is_set():
            log.info("worker %s draining: no new runs; %d running", self.name, len(self.attempts))
            self.draining.set()
            self.wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.drain)
        background = [
            asyncio.create_task(self._listen(), name="listen"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._reconcile(), name="reconcile"),
            asyncio.create_task(self._sweep(), name="sweep"),
            asyncio.create_task(self.recorder.run(), name="recorder"),
        ]
        log.info(
            "worker %s ready: queues %s, concurrency %d, lease %gs%s",
            self.name,
            ",".join(self.queues),
            self.concurrency,
            self.lease_s,
            "" if self.ctx.keep_logs else " (no object_store.options.bucket: logs stay in the database)",
        )
        try:
            await self._dispatch()
            await self._wait_for_attempts()
        finally:
            self.stopping.set()
            for _, task in list(self.attempts.values()):
                task.cancel()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, *(t for _, t in self.attempts.values()), return_exceptions=True)
            await self.ctx.engines.close()
            log.info("worker %s stopped", self.name)

    async def _wait_for_attempts(self) -> None:
        tasks = [task for _, task in self.attempts.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.drain_timeout_s)
        if self.attempts:
            held = {run_id: attempt.lease.token for run_id, (attempt, _) in self.attempts.items()}
            log.warning("worker %s: drain timed out; handing over %d run(s)", self.name, len(held))
            with contextlib.suppress(Exception):
                async with self.lp.sessions() as db:
                    await queue.release(db, held)

    # -- loops --------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self.draining.is_set():
            free = self.concurrency - len(self.attempts)
            self.wake.clear()
            got = 0
            if free > 0:
                try:
                    async with self.lp.sessions() as db:
                        leases = await queue.claim(
                            db, self.actor, self.name, self.queues, free, self.lease_s, self.limits
                        )
                except queue.Contended:
                    await asyncio.sleep(CONTENDED_RETRY_S)
                    continue
                except Exception as exc:
                    self._log_loop_error("claim", exc)
                    await asyncio.sleep(self.poll_s)
                    continue
                await self._start_all(leases)
                got = len(leases)
                if got == free:
                    continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self.wake.wait()

    async def _heartbeat(self) -> None:
        interval = min(self.lease_s / 3, 1.0)
        while True:
            await asyncio.sleep(interval)
            self.liveness.beat()
            held = {run_id: attempt.lease.token for run_id, (attempt, _) in self.attempts.items()}
            if not held:
                continue
            try:
                async with self.lp.sessions() as db:
                    alive = await queue.heartbeat(db, held, self.lease_s)
            except Exception as exc:
                self._log_loop_error("heartbeat", exc)
                continue
            for run_id, token in held.items():
                entry = self.attempts.get(run_id)
                if entry is None or entry[0].lease.token != token:
                    continue
                if run_id not in alive:
                    entry[0].lost.set()
                elif alive[run_id]:
                    entry[0].stop.set()

    async def _reconcile(self) -> None:
        interval = max(min(self.lease_s / 3, 2.0), 0.2)
        while True:
            await asyncio.sleep(interval * (0.75 + secrets.randbelow(50) / 100))
            if self.draining.is_set():
                continue
            try:
                async with self.lp.sessions() as db:
                    leases = await queue.adopt_expired(db, self.name, self.lease_s, ADOPT_BATCH)
                if leases:
                    metrics.ADOPTIONS.inc(len(leases))
                for lease in leases:
                    log.info("run %s: adopted from %s", lease.run_id, lease.previous_owner)
                await self._start_all(leases)
            except Exception as exc:
                self._log_loop_error("reconcile", exc)

    async def _sweep(self) -> None:
        """Its own loop: an engine that takes its time to answer must not hold up adoption."""
        delay = max(min(self.lease_s / 3, 2.0), 0.2)  # the first soon after start
        while True:
            await asyncio.sleep(delay)
            delay = SWEEP_INTERVAL_S * (0.75 + secrets.randbelow(50) / 100)
            if self.draining.is_set():
                continue
            try:
                await self._sweep_engines()
            except Exception as exc:
                self._log_loop_error("engine sweep", exc)

    async def _listen(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(**_asyncpg_args(self.lp.config.database.url))
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _conn, event=closed: event.set())
                await conn.add_listener(QUEUE_CHANNEL, self._on_queue)
                await conn.add_listener(STOP_CHANNEL, self._on_stop)
                self.wake.set()  # whatever was submitted while nobody listened
                while not closed.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5):
                            await closed.wait()
                    if not closed.is_set():
                        await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log_loop_error("listen", exc)
                await asyncio.sleep(1.0)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()

    def _on_queue(self, *_: Any) -> None:
        self.wake.set()

    def _on_stop(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        entry = self.attempts.get(payload)
        if entry is not None:
            entry[0].stop.set()

    # -- attempts -----------------------------------------------------------------------

    async def _start_all(self, leases: list[queue.Lease]) -> None:
        """Start an attempt per lease, with what they need loaded in one query (or each on its own)."""
        if not leases:
            return
        try:
            loaded = await load(self.lp, leases)
        except Exception as exc:
            self._log_loop_error("load", exc)
            loaded = {}
        for lease in leases:
            self._start(lease, loaded.get(lease.run_id))

    def _start(self, lease: queue.Lease, loaded: Loaded | None = None) -> None:
        previous = self.attempts.get(lease.run_id)
        if previous is not None:  # our own older attempt lost its lease; the new one replaces it
            previous[0].lost.set()
        attempt = Attempt(self.ctx, lease, loaded)
        task = asyncio.create_task(attempt.execute(), name=f"run {lease.run_id}")
        self.attempts[lease.run_id] = (attempt, task)

        def done(_: asyncio.Task[None]) -> None:
            entry = self.attempts.get(lease.run_id)
            if entry is not None and entry[0] is attempt:
                del self.attempts[lease.run_id]
            self.wake.set()

        task.add_done_callback(done)

    # -- engine sweep -------------------------------------------------------------------

    async def _sweep_engines(self) -> None:
        """Cancel engine work tagged with a run that has ended, never existed or moved past its attempt."""
        async with self.lp.sessions() as db, db.begin():
            if not await repository.try_sweep_lock(db):
                return
            enabled = {s.impl.name: s for s in self.lp.selection.engines.values()}
            sources = [
                engines.from_connection(self.lp, conn)
                for conn in await repository.engine_connections(db)
                if conn.plugin in enabled
            ]
            sources += [engines.from_config(selected) for selected in enabled.values()]
            for source in sources:
                try:
                    async with asyncio.timeout(30), self.ctx.engines.borrow(source) as engine:
                        active = [w for w in await engine.list_active() if w.run_id]
                        if not active:
                            continue
                        runs = await repository.states_of(db, [w.run_id for w in active if w.run_id])
                        for work in active:
                            why = _orphaned(work, *runs.get(work.run_id or "", (None, 0)))
                            if why is not None:
                                log.warning(
                                    "%s: cancelling engine work %s of run %s: %s",
                                    source.label,
                                    work.handle.id,
                                    work.run_id,
                                    why,
                                )
                                await engine.cancel(work.handle)
                except msgspec.ValidationError:
                    continue  # an enabled engine that needs parameters: it serves connections only
                except Exception as exc:
                    log.warning("engine sweep of %s failed: %s", source.label, type(exc).__name__)

    def _log_loop_error(self, loop_name: str, exc: BaseException) -> None:
        if transient(exc):
            log.warning("%s: database unavailable (%s); retrying", loop_name, type(exc).__name__)
        else:
            log.error("%s failed: %s", loop_name, exc, exc_info=exc)


def _orphaned(work: ActiveWork, state: str | None, attempt: int) -> str | None:
    """Why engine work tagged with a run should not be running, or ``None`` if it may.

    Work of an earlier attempt is orphaned once the run has moved on (a retry, or a
    failed attempt waiting for its retry); work of the current attempt of a running
    run is not, even before its handle is stored.
    """
    if state is None:
        return "no such run"
    if state in TERMINAL:
        return f"the run is {state}"
    if work.attempt is not None and (
        work.attempt < attempt or (state == RunState.QUEUED and work.attempt <= attempt)
    ):
        return f"attempt {work.attempt} was superseded (the run is {state}, attempt {attempt})"
    return None


def _store_configured(lp: Services) -> bool:
    try:
        logstore.bucket(lp)
    except Exception:
        return False
    return True


def _asyncpg_args(url_text: str) -> dict[str, Any]:
    url = make_url(url_text)
    args: dict[str, Any] = {
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "host": url.query.get("host") or url.host,
        "timeout": 5,
    }
    if url.port:
        args["port"] = url.port
    return args
