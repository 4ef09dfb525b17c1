"""The SQL of the run lifecycle: claims, leases, engine handles, outcomes, transitions and the run log.

A worker owns an attempt while ``runs.lease_token`` holds the token it wrote when it
claimed (or adopted) the run. Every later write of that attempt is fenced, ``WHERE
lease_token = :token AND state = 'running'``: a worker paused past its lease, whose
run another worker adopted, finds zero rows and stands down. The functions here run in
the caller's transaction and never commit; the state names come from
:class:`~lakeplane.domain.runs.lifecycle.RunState`, written into the statements once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import RowMapping, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from lakeplane.db import locks
from lakeplane.db.models import Connection, Job, JobVersion, Run, RunLog, RunTransition, Workspace
from lakeplane.domain import audit
from lakeplane.domain.runs.lifecycle import FAILURES, Finish, RunState, Transition, check_transition
from lakeplane.timeutil import utcnow

#: Workers LISTEN here; a submit NOTIFYs with the queue name so an idle worker wakes at once.
QUEUE_CHANNEL = "lakeplane_runs"
#: A stop request NOTIFYs the run id here so the worker holding it cancels without waiting to poll.
STOP_CHANNEL = "lakeplane_run_stop"

QUEUED, RUNNING = RunState.QUEUED, RunState.RUNNING


# -- the run log ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LogLine:
    """Text for the log of one attempt; kept only while ``token`` still holds the run."""

    run_id: str
    attempt: int
    token: str
    text: str


def log_text(message: str, source: str = "worker") -> str:
    """A line of a run's log as Lakeplane writes its own: UTC time, where it comes from, message."""
    stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} [{source}] {message}\n"


_APPEND_LOG = text(
    f"""
    INSERT INTO run_logs (run_id, attempt, text, at)
    SELECT u.run_id, u.attempt, u.text, clock_timestamp()
    FROM unnest(CAST(:run_ids AS text[]), CAST(:attempts AS int[]), CAST(:texts AS text[]),
                CAST(:tokens AS text[])) WITH ORDINALITY AS u(run_id, attempt, text, token, n)
    JOIN runs r ON r.id = u.run_id AND r.lease_token = u.token AND r.state = '{RUNNING}'
    ORDER BY u.n
    """  # noqa: S608 - only RunState names are interpolated
)


async def append_log(db: AsyncSession, lines: Sequence[LogLine]) -> None:
    """The one writer of ``run_logs``: append ``lines`` in order, dropping those of a lost lease."""
    if lines:
        await db.execute(
            _APPEND_LOG,
            {
                "run_ids": [line.run_id for line in lines],
                "attempts": [line.attempt for line in lines],
                "texts": [line.text for line in lines],
                "tokens": [line.token for line in lines],
            },
        )


async def logged(db: AsyncSession, run_id: str) -> list[str]:
    """Everything in the run's log so far, oldest first."""
    return list(await db.scalars(select(RunLog.text).where(RunLog.run_id == run_id).order_by(RunLog.id)))


# -- claiming -------------------------------------------------------------------------------

_CLAIMABLE = text(
    f"""
    SELECT r.id, r.workspace_id, r.job_id, r.queue, r.attempt, r.waiting_for,
           v.max_concurrency, v.timeout_s
    FROM runs r JOIN job_versions v ON v.id = r.job_version_id
    WHERE r.state = '{QUEUED}' AND r.queue = ANY(:queues) AND r.next_attempt_at <= clock_timestamp()
    ORDER BY r.next_attempt_at, r.id
    LIMIT :scan
    FOR UPDATE OF r SKIP LOCKED
    """  # noqa: S608 - only RunState names are interpolated
)
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:namespace, hashtext(:key))")
_TRY_SWEEP_LOCK = text("SELECT pg_try_advisory_xact_lock(:namespace, :key)")
_RUNNING_COUNTS = text(
    f"""
    SELECT workspace_id, queue, job_id, count(*) AS n FROM runs
    WHERE state = '{RUNNING}' AND workspace_id = ANY(:workspaces)
    GROUP BY workspace_id, queue, job_id
    """  # noqa: S608 - only RunState names are interpolated
)
_HOLD_BACK = text(
    """
    UPDATE runs SET waiting_for = u.why, next_attempt_at = clock_timestamp() + make_interval(secs => :recheck)
    FROM unnest(CAST(:ids AS text[]), CAST(:whys AS text[])) AS u(id, why)
    WHERE runs.id = u.id
    """
)
_START = text(
    f"""
    UPDATE runs SET state = '{RUNNING}', attempt = runs.attempt + 1, lease_owner = :owner,
        lease_token = u.token, lease_expires_at = clock_timestamp() + make_interval(secs => :lease),
        started_at = coalesce(runs.started_at, clock_timestamp()), waiting_for = NULL, reason = NULL,
        engine_handle = NULL, next_attempt_at = NULL,
        deadline_at = CASE WHEN u.timeout IS NULL THEN NULL
                           ELSE clock_timestamp() + make_interval(secs => u.timeout) END
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[]), CAST(:timeouts AS float8[]))
        AS u(id, token, timeout)
    WHERE runs.id = u.id
    RETURNING runs.id, runs.workspace_id, runs.attempt, runs.lease_token
    """  # noqa: S608 - only RunState names are interpolated
)


async def claimable(db: AsyncSession, queues: list[str], scan: int) -> Sequence[RowMapping]:
    """Up to ``scan`` queued runs due now, oldest first, locked; rows other claimers hold are skipped."""
    return (await db.execute(_CLAIMABLE, {"queues": queues, "scan": scan})).mappings().all()


async def lock_workspaces(db: AsyncSession, workspace_ids: Iterable[str]) -> set[str]:
    """The workspaces whose claim lock this transaction got; the others are being claimed in now."""
    locked: set[str] = set()
    for workspace_id in workspace_ids:
        got = await db.scalar(_TRY_LOCK, {"namespace": locks.WORKER_NAMESPACE, "key": workspace_id})
        if got:
            locked.add(workspace_id)
    return locked


async def running_counts(db: AsyncSession, workspace_ids: list[str]) -> Sequence[RowMapping]:
    """Running runs per workspace, queue and job: ``workspace_id, queue, job_id, n``."""
    return (await db.execute(_RUNNING_COUNTS, {"workspaces": workspace_ids})).mappings().all()


async def hold_back(db: AsyncSession, waiting: Mapping[str, str], recheck_s: float) -> None:
    """Say why each run (id -> reason) may not start yet; it is looked at again after ``recheck_s``."""
    if waiting:
        await db.execute(
            _HOLD_BACK, {"ids": list(waiting), "whys": list(waiting.values()), "recheck": recheck_s}
        )


async def start(
    db: AsyncSession,
    owner: str,
    lease_s: float,
    ids: list[str],
    tokens: list[str],
    timeouts: list[float | None],
) -> Sequence[RowMapping]:
    """Start an attempt of each run, leased to ``owner``: ``id, workspace_id, attempt, lease_token``."""
    params = {"owner": owner, "lease": lease_s, "ids": ids, "tokens": tokens, "timeouts": timeouts}
    return (await db.execute(_START, params)).mappings().all()


# -- holding --------------------------------------------------------------------------------

_RENEW = text(
    f"""
    UPDATE runs SET lease_expires_at = clock_timestamp() + make_interval(secs => :lease)
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[])) AS u(id, token)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = '{RUNNING}'
    RETURNING runs.id, runs.stop_requested
    """  # noqa: S608 - only RunState names are interpolated
)
_EXPIRED = text(
    f"""
    SELECT id, workspace_id, attempt, lease_owner FROM runs
    WHERE state = '{RUNNING}' AND lease_expires_at < clock_timestamp()
    ORDER BY lease_expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """  # noqa: S608 - only RunState names are interpolated
)
_ADOPT = text(
    """
    UPDATE runs SET lease_owner = :owner, lease_token = :token,
        lease_expires_at = clock_timestamp() + make_interval(secs => :lease),
        stats = jsonb_set(coalesce(stats, '{}'::jsonb), '{adoptions}',
                          to_jsonb(coalesce((stats->>'adoptions')::int, 0) + 1))
    WHERE id = :id
    """
)
_EXPIRE_NOW = text(
    f"""
    UPDATE runs SET lease_expires_at = clock_timestamp()
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[])) AS u(id, token)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = '{RUNNING}'
    """  # noqa: S608 - only RunState names are interpolated
)


async def renew(db: AsyncSession, held: Mapping[str, str], lease_s: float) -> dict[str, bool]:
    """Extend the leases in ``held`` (run id -> token); the ones still held, with their stop flag."""
    rows = await db.execute(_RENEW, {"ids": list(held), "tokens": list(held.values()), "lease": lease_s})
    return {row.id: row.stop_requested for row in rows}


async def expired(db: AsyncSession, limit: int) -> Sequence[RowMapping]:
    """Running runs whose lease ran out, locked: ``id, workspace_id, attempt, lease_owner``."""
    return (await db.execute(_EXPIRED, {"limit": limit})).mappings().all()


async def adopt(db: AsyncSession, run_id: str, owner: str, token: str, lease_s: float) -> None:
    """Lease a running run to ``owner`` under a new token, counting the adoption in its stats."""
    await db.execute(_ADOPT, {"owner": owner, "token": token, "lease": lease_s, "id": run_id})


async def expire_now(db: AsyncSession, held: Mapping[str, str]) -> None:
    """End the leases in ``held`` (run id -> token) now, so another worker adopts them at once."""
    await db.execute(_EXPIRE_NOW, {"ids": list(held), "tokens": list(held.values())})


async def attempts_of(
    db: AsyncSession, held: Mapping[str, str]
) -> list[tuple[Run, Job, JobVersion, Connection | None, str]]:
    """The runs of ``held`` (id -> token) still held, with job, version, connection and workspace slug."""
    rows = (
        await db.execute(
            select(Run, Job, JobVersion, Connection, Workspace.slug)
            .join(Job, Job.id == Run.job_id)
            .join(Workspace, Workspace.id == Run.workspace_id)
            .join(JobVersion, JobVersion.id == Run.job_version_id)
            .outerjoin(Connection, Connection.id == JobVersion.connection_id)
            .where(Run.id.in_(list(held)))
        )
    ).all()
    return [
        (run, job, version, conn, slug)
        for run, job, version, conn, slug in rows
        if run.state == RUNNING and run.lease_token == held[run.id]
    ]


# -- outcomes -------------------------------------------------------------------------------

_SAVE_HANDLES = text(
    f"""
    UPDATE runs SET engine_handle = u.handle
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(id text, token text, handle jsonb)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = '{RUNNING}'
    RETURNING runs.id
    """  # noqa: S608 - only RunState names are interpolated
)
_FINISH = text(
    f"""
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
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = '{RUNNING}'
    RETURNING runs.id
    """  # noqa: S608 - only RunState names are interpolated
)
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def save_handles(db: AsyncSession, handles: Sequence[tuple[str, str, dict[str, Any]]]) -> set[str]:
    """Store each ``(run id, token, engine handle)``; the ids of the runs their token still held."""
    rows = [{"id": run_id, "token": token, "handle": handle} for run_id, token, handle in handles]
    return await _returned_ids(db, _SAVE_HANDLES, rows)


async def finish(db: AsyncSession, finishes: Sequence[tuple[str, str, Finish]]) -> set[str]:
    """End each ``(run id, token, finish)`` attempt as decided; the ids of the runs their token still held.

    A retry (``retry_in_s`` set) keeps the run's first ``finished_at`` and drops its
    engine handle and deadline; an end keeps the handle, for the engine sweep to find.
    """
    rows = [
        {
            "id": run_id,
            "token": token,
            "state": f.state,
            "reason": f.reason,
            "stats": f.stats,
            "retry_in_s": f.retry_in_s,
            "preview": f.preview,
            "row_count": f.row_count,
            "log_uri": f.log_uri,
            "log_sha256": f.log_sha256,
        }
        for run_id, token, f in finishes
    ]
    return await _returned_ids(db, _FINISH, rows)


async def _returned_ids(db: AsyncSession, statement: TextClause, rows: list[dict[str, Any]]) -> set[str]:
    if not rows:
        return set()
    result = await db.execute(statement, {"rows": msgspec.json.encode(rows).decode()})
    return {row[0] for row in result}


async def notify_queue(db: AsyncSession, queue: str) -> None:
    """Wake the workers of ``queue`` when the transaction commits."""
    await db.execute(_NOTIFY, {"channel": QUEUE_CHANNEL, "payload": queue})


async def notify_stop(db: AsyncSession, run_id: str) -> None:
    """Tell the worker holding ``run_id`` to cancel, when the transaction commits."""
    await db.execute(_NOTIFY, {"channel": STOP_CHANNEL, "payload": run_id})


async def record_transitions(db: AsyncSession, actor: audit.Actor, transitions: Sequence[Transition]) -> None:
    """Store transitions and one audit event each, in ``db``'s current transaction.

    Each is checked against the legal moves first. The rows go in first and the audit
    events last: the audit append takes a lock that serialises every writer until the
    commit, so it is held as briefly as possible.
    """
    if not transitions:
        return
    for t in transitions:
        check_transition(t.from_state, t.to_state)
    now = utcnow()
    await db.execute(
        insert(RunTransition),
        [
            {
                "run_id": t.run_id,
                "attempt": t.attempt,
                "from_state": t.from_state,
                "to_state": t.to_state,
                "reason": t.reason,
                "worker": t.worker,
                "at": now,
            }
            for t in transitions
        ],
    )
    await audit.record(
        db,
        actor,
        *[
            audit.Entry.on(
                "run.transition",
                t.run_id,
                t.workspace_id,
                outcome="failure" if t.to_state in FAILURES else "success",
                details={
                    "from": t.from_state,
                    "to": t.to_state,
                    "attempt": t.attempt,
                    "reason": t.reason,
                    **(t.details or {}),
                },
            )
            for t in transitions
        ],
    )


# -- the engine sweep -----------------------------------------------------------------------


async def try_sweep_lock(db: AsyncSession) -> bool:
    """Whether this transaction got the sweep lock; another worker is sweeping if not."""
    got = await db.scalar(_TRY_SWEEP_LOCK, {"namespace": locks.WORKER_NAMESPACE, "key": locks.ENGINE_SWEEP})
    return bool(got)


async def engine_connections(db: AsyncSession) -> Sequence[Connection]:
    return (await db.scalars(select(Connection).where(Connection.kind == "engine"))).all()


async def states_of(db: AsyncSession, run_ids: list[str]) -> dict[str, tuple[str, int]]:
    """The state and attempt of each of ``run_ids`` that exists."""
    rows = (await db.execute(select(Run.id, Run.state, Run.attempt).where(Run.id.in_(run_ids)))).all()
    return {row.id: (row.state, row.attempt) for row in rows}
