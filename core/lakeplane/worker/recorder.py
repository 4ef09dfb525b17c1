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

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.engine import is_outage
from lakeplane.domain import audit
from lakeplane.domain.runs.services import QUEUE_CHANNEL, Transition, record_transitions
from lakeplane.runtime import Services

log = logging.getLogger("lakeplane.worker")

#: Writes committed in one transaction at most; the rest wait for the next.
MAX_BATCH = 256


class LeaseLost(Exception):
    """Another worker holds this run now; stop without writing."""


@dataclasses.dataclass
class Finish:
    """How an attempt ended, as stored on the run."""

    #: The run's next state: a terminal one, or ``queued`` for a retry.
    state: str
    reason: str | None
    stats: dict[str, Any]
    #: With ``state == "queued"``: seconds until the retry may start.
    retry_in_s: float | None = None
    #: ``{"columns": ..., "rows": ...}`` and the row count, when the engine gave a preview.
    preview: dict[str, Any] | None = None
    row_count: int | None = None
    log_uri: str | None = None
    log_sha256: str | None = None


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


_INSERT_LINES = text(
    """
    INSERT INTO run_logs (run_id, attempt, text, at)
    SELECT u.run_id, u.attempt, u.text, clock_timestamp()
    FROM unnest(CAST(:run_ids AS text[]), CAST(:attempts AS int[]), CAST(:texts AS text[]),
                CAST(:tokens AS text[])) WITH ORDINALITY AS u(run_id, attempt, text, token, n)
    JOIN runs r ON r.id = u.run_id AND r.lease_token = u.token AND r.state = 'running'
    ORDER BY u.n
    """
)
_SAVE_HANDLES = text(
    """
    UPDATE runs SET engine_handle = u.handle
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(id text, token text, handle jsonb)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = 'running'
    RETURNING runs.id
    """
)
_FINISH = text(
    """
    UPDATE runs SET
        state = u.state, reason = u.reason, stats = u.stats, lease_expires_at = NULL,
        next_attempt_at = CASE WHEN u.retry_in_s IS NULL THEN NULL
                               ELSE clock_timestamp() + make_interval(secs => u.retry_in_s) END,
        finished_at = CASE WHEN u.retry_in_s IS NULL THEN clock_timestamp() ELSE runs.finished_at END,
        engine_handle = CASE WHEN u.retry_in_s IS NULL THEN runs.engine_handle END,
        deadline_at = CASE WHEN u.retry_in_s IS NULL THEN runs.deadline_at END,
        row_count = CASE WHEN u.preview IS NULL THEN runs.row_count ELSE u.row_count END,
        result_preview = coalesce(u.preview, runs.result_preview),
        log_uri = coalesce(u.log_uri, runs.log_uri),
        log_sha256 = coalesce(u.log_sha256, runs.log_sha256)
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(
        id text, token text, state text, reason text, stats jsonb, retry_in_s float8,
        preview jsonb, row_count bigint, log_uri text, log_sha256 text)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = 'running'
    RETURNING runs.id
    """
)


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
            await self._insert_lines(db, writes)
            kept: set[str] = set()
            handles = [w for w in writes if w.handle is not None]
            if handles:
                rows = [{"id": w.run_id, "token": w.token, "handle": w.handle} for w in handles]
                kept.update(await _returned_ids(db, _SAVE_HANDLES, rows))
            finished = [w for w in writes if w.finish is not None]
            if finished:
                rows = [_finish_row(w) for w in finished]
                done = await _returned_ids(db, _FINISH, rows)
                kept.update(done)
                finished = [w for w in finished if w.run_id in done]
                for queue in sorted({w.queue for w in finished}):
                    await db.execute(
                        text("SELECT pg_notify(:channel, :queue)"), {"channel": QUEUE_CHANNEL, "queue": queue}
                    )
                # Last: the audit append serialises every writer, so its lock is held only to the commit.
                await record_transitions(db, self.actor, [_transition(w) for w in finished])
            return kept

    @staticmethod
    async def _insert_lines(db: AsyncSession, writes: Sequence[Write]) -> None:
        lines = [(w, line) for w in writes for line in w.lines]
        if lines:
            await db.execute(
                _INSERT_LINES,
                {
                    "run_ids": [w.run_id for w, _ in lines],
                    "attempts": [w.attempt for w, _ in lines],
                    "texts": [line for _, line in lines],
                    "tokens": [w.token for w, _ in lines],
                },
            )


async def _returned_ids(db: AsyncSession, statement: Any, rows: list[dict[str, Any]]) -> set[str]:
    result = await db.execute(statement, {"rows": msgspec.json.encode(rows).decode()})
    return {row[0] for row in result}


def _finish_row(write: Write) -> dict[str, Any]:
    finish = write.finish
    assert finish is not None
    return {
        "id": write.run_id,
        "token": write.token,
        "state": finish.state,
        "reason": finish.reason,
        "stats": finish.stats,
        "retry_in_s": finish.retry_in_s,
        "preview": finish.preview,
        "row_count": finish.row_count,
        "log_uri": finish.log_uri,
        "log_sha256": finish.log_sha256,
    }


def _transition(write: Write) -> Transition:
    finish = write.finish
    assert finish is not None
    return Transition(
        write.run_id, write.workspace_id, write.attempt, "running", finish.state, finish.reason, write.worker
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
