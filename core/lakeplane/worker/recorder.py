"""Group commit: the fenced writes of every attempt in a worker, a transaction at a time.

An attempt hands each of its writes (log lines, a saved engine handle, an outcome)
to the worker's :class:`Recorder` and waits for it. The recorder commits whatever
gathered while its previous transaction ran, all in one transaction: under load N
finished runs cost one commit, one audit lock and a handful of statements instead
of N of each, and when the worker is idle a write waits for nobody.

Every write stays fenced by its attempt's lease token. The log lines go in first
(their fence needs the run still ``running``), then the handle and outcome updates,
whose ``RETURNING`` says which rows still belonged to their attempt; a write whose
row did not fails alone with :class:`LeaseLost`, and no transition, audit event or
log line is stored for it. If the transaction fails, every write in it gets the
error (an outage is retried by the attempt); any other error is retried write by
write, so one bad write cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from lakeplane.db.engine import is_outage
from lakeplane.domain import audit
from lakeplane.domain.runs import repository
from lakeplane.domain.runs.lifecycle import Finish, RunState, Transition
from lakeplane.runtime import Services

log = logging.getLogger("lakeplane.worker")

#: Writes committed in one transaction at most; the rest wait for the next.
MAX_BATCH = 256


class LeaseLost(Exception):
    """Another worker holds this run now; stop without writing."""


@dataclasses.dataclass
class Write:
    """One attempt's write: log lines, and at most one of a handle or an outcome."""

    run_id: str
    workspace_id: str
    queue: str
    attempt: int
    token: str
    worker: str
    lines: list[str] = dataclasses.field(default_factory=list)
    handle: dict[str, Any] | None = None
    finish: Finish | None = None

    @property
    def fenced(self) -> bool:
        """Whether the write needs its row: a log-only write is dropped quietly if the lease is gone."""
        return self.handle is not None or self.finish is not None


class Recorder:
    """Commits the attempts' writes in batches; :meth:`run` is the worker's background task."""

    def __init__(self, lp: Services, actor: audit.Actor) -> None:
        self.lp = lp
        self.actor = actor
        self._pending: list[tuple[Write, asyncio.Future[None]]] = []
        self._ready = asyncio.Event()

    async def write(self, write: Write) -> None:
        """Commit ``write`` with whatever else is pending; :class:`LeaseLost` if its row moved on."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        self._ready.set()
        await future

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            if not self._pending:
                self._ready.clear()
            batch = [(w, f) for w, f in batch if not f.done()]  # the attempt was cancelled meanwhile
            try:
                await self._commit(batch)
            except Exception as exc:  # never leave an attempt waiting on a recorder that died
                log.exception("recording %d writes failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _commit(self, batch: list[tuple[Write, asyncio.Future[None]]]) -> None:
        if not batch:
            return
        try:
            kept = await self._transaction([w for w, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and not transient(exc):
                log.warning("a batch of %d writes failed (%s); retrying them one by one", len(batch), exc)
                for item in batch:
                    await self._commit([item])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for write, future in batch:
            if future.done():
                continue
            if write.fenced and write.run_id not in kept:
                future.set_exception(LeaseLost())
            else:
                future.set_result(None)

    async def _transaction(self, writes: Sequence[Write]) -> set[str]:
        """Commit ``writes``; return the ids of the runs whose fenced update found its row."""
        async with self.lp.sessions() as db, db.begin():
            await repository.append_log(
                db,
                [repository.LogLine(w.run_id, w.attempt, w.token, line) for w in writes for line in w.lines],
            )
            kept = await repository.save_handles(
                db, [(w.run_id, w.token, w.handle) for w in writes if w.handle is not None]
            )
            ended = [(w, w.finish) for w in writes if w.finish is not None]
            if ended:
                done = await repository.finish(db, [(w.run_id, w.token, finish) for w, finish in ended])
                kept.update(done)
                ended = [(w, finish) for w, finish in ended if w.run_id in done]
                for queue in sorted({w.queue for w, _ in ended}):
                    await repository.notify_queue(db, queue)
                # Last: the audit append serialises every writer, so its lock is held only to the commit.
                await repository.record_transitions(db, self.actor, [_transition(w, f) for w, f in ended])
            return kept


def _transition(write: Write, finish: Finish) -> Transition:
    return Transition(
        write.run_id,
        write.workspace_id,
        write.attempt,
        RunState.RUNNING,
        finish.state,
        finish.reason,
        write.worker,
    )


#: SQLSTATEs worth retrying: too many connections, server starting, serialization failure, deadlock.
TRANSIENT_SQLSTATES = frozenset({"53300", "57P03", "40001", "40P01"})


def transient(exc: BaseException) -> bool:
    """An outage, or a refusal that passes by itself (the server is full or restarting)."""
    if is_outage(exc):
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False
