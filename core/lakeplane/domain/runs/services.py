"""Runs: submit, stop, rerun, read.

The API moves runs only into ``queued`` and from ``queued`` to ``cancelled``; every
other move of :mod:`~lakeplane.domain.runs.lifecycle` is the worker's, fenced by its
lease. Each move stores a :class:`RunTransition` and exactly one ``run.transition``
audit event in the same transaction (:func:`~lakeplane.domain.runs.repository.record_transitions`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import JobVersion, Run, RunLog, RunTransition
from lakeplane.db.pagination import DEFAULT_LIMIT, fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.runs import logstore, repository
from lakeplane.domain.runs.lifecycle import STATES, TERMINAL, RunState, Transition
from lakeplane.domain.runs.schemas import ResultOut, RunLogOut, RunOut, TransitionOut
from lakeplane.errors import Conflict, NotFound, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow

MAX_LOG_LINES = 5000


def to_out(run: Run | Row[Any], transitions: Sequence[RunTransition] | None = None) -> RunOut:
    handle = run.engine_handle or {}
    running = run.state == RunState.RUNNING
    return resources.to_struct(
        RunOut,
        run,
        parameters=dict(run.parameters),
        stats=dict(run.stats or {}),
        engine=handle.get("engine"),
        engine_id=handle.get("id"),
        lease_owner=run.lease_owner if running else None,
        lease_expires_at=run.lease_expires_at if running else None,
        next_attempt_at=run.next_attempt_at if run.state == RunState.QUEUED else None,
        transitions=(
            [resources.to_struct(TransitionOut, t) for t in transitions] if transitions is not None else None
        ),
    )


async def submit_run(
    db: AsyncSession,
    lp: Services,
    actor: audit.Actor,
    workspace_id: str,
    job_id: str,
    parameters: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    schedule_id: str | None = None,
    rerun_of: str | None = None,
) -> Run:
    """Queue a run of the job's current version (a rerun: of the original's version) and commit.

    Runs inside ``db``'s current transaction if one is open (so a caller's own rows,
    e.g. a schedule's fired slot, commit with the run) and commits it. With an
    ``idempotency_key`` already used in the workspace for the same job, the existing
    run is returned and nothing is written; for another job it is a 409.
    """
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200 or not idempotency_key.isprintable():
            raise ValidationFailed(
                "Idempotency-Key must be 1 to 200 printable characters",
                [{"field": "Idempotency-Key", "message": "invalid"}],
            )
        existing = await _by_key(db, workspace_id, job_id, idempotency_key)
        if existing is not None:
            await db.commit()
            return existing
    job = await jobs.get(db, workspace_id, job_id)
    if job.archived:
        raise Conflict(f"job {job.name!r} is archived; unarchive it to run it")
    given = dict(parameters)
    if rerun_of is not None:
        original = await get(db, workspace_id, rerun_of)
        if original.job_id != job.id:
            raise ValidationFailed(
                "a rerun must be of a run of the same job", [{"field": "rerun_of", "message": "other job"}]
            )
        version = await db.get_one(JobVersion, original.job_version_id)
        given = {**original.parameters, **given}
    else:
        version = await jobs.get_version(db, job.id, job.current_version)
    values = jobs.check_parameters(version.parameters, given)
    now = utcnow()
    run = Run(
        id=new_id("run"),
        workspace_id=workspace_id,
        job_id=job.id,
        job_version_id=version.id,
        state=RunState.QUEUED,
        queue=version.queue,
        parameters=values,
        idempotency_key=idempotency_key,
        rerun_of=rerun_of,
        attempt=0,
        max_attempts=version.max_attempts,
        next_attempt_at=now,
        submitted_by=actor.id,
        schedule_id=schedule_id,
        created_at=now,
        stats={},
    )
    if idempotency_key is None:
        db.add(run)
        await db.flush()
    else:
        try:  # a concurrent submit with the same key may win the unique index
            async with db.begin_nested():
                db.add(run)
                await db.flush()
        except IntegrityError:
            existing = await _by_key(db, workspace_id, job_id, idempotency_key)
            if existing is None:  # the other submit rolled back after all; let the caller retry
                raise Conflict(
                    "a concurrent request with this Idempotency-Key did not complete; retry"
                ) from None
            await db.commit()
            return existing
    await repository.notify_queue(db, run.queue)
    submitted = Transition(
        run.id,
        workspace_id,
        attempt=0,
        from_state=None,
        to_state=RunState.QUEUED,
        reason="rerun" if rerun_of else ("schedule" if schedule_id else "submitted"),
        details={
            "job_id": job.id,
            "version": version.version,
            "rerun_of": rerun_of,
            "schedule_id": schedule_id,
            "idempotency_key": idempotency_key is not None,
        },
    )
    await repository.record_transitions(db, actor, [submitted])
    await db.commit()
    return run


async def _by_key(db: AsyncSession, workspace_id: str, job_id: str, key: str) -> Run | None:
    existing = await db.scalar(
        select(Run).where(Run.workspace_id == workspace_id, Run.idempotency_key == key)
    )
    if existing is not None and existing.job_id != job_id:
        raise Conflict("this Idempotency-Key was already used for a run of another job")
    return existing


async def rerun(
    db: AsyncSession,
    lp: Services,
    actor: audit.Actor,
    workspace_id: str,
    run_id: str,
    parameters: dict[str, Any],
) -> Run:
    """A new run of ``run_id``'s job version, linked to it; ``parameters`` override its values."""
    original = await get(db, workspace_id, run_id)
    return await submit_run(db, lp, actor, workspace_id, original.job_id, parameters, rerun_of=original.id)


async def get(db: AsyncSession, workspace_id: str, run_id: str, *, for_update: bool = False) -> Run:
    return await resources.get(db, Run, workspace_id, run_id, "run", for_update=for_update)


async def transitions_of(db: AsyncSession, run_id: str) -> Sequence[RunTransition]:
    return (
        await db.scalars(
            select(RunTransition).where(RunTransition.run_id == run_id).order_by(RunTransition.id)
        )
    ).all()


async def list_runs(
    db: AsyncSession,
    workspace_id: str,
    *,
    state: str | None = None,
    job_id: str | None = None,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Sequence[Row[Any]]:
    """Newest first, as plain rows with the run's columns by name; ``state`` may list several
    states separated by commas."""
    query = select_rows(Run).where(Run.workspace_id == workspace_id)
    if state:
        states = [s.strip() for s in state.split(",") if s.strip()]
        unknown = sorted(set(states) - set(STATES))
        if unknown:
            raise ValidationFailed(
                f"unknown state(s): {', '.join(unknown)} (states: {', '.join(STATES)})",
                [{"field": "state", "message": "unknown state"}],
            )
        query = query.where(Run.state.in_(states))
    if job_id:
        query = query.where(Run.job_id == job_id)
    if created_after:
        query = query.where(Run.created_at >= created_after)
    if created_before:
        query = query.where(Run.created_at < created_before)
    return await fetch_page(db, query, Run.id, cursor, limit, newest_first=True)


async def stop(db: AsyncSession, actor: audit.Actor, workspace_id: str, run_id: str) -> Run:
    """Cancel a queued run at once; ask the worker holding a running one to cancel its engine work.

    Stopping a finished run changes nothing and is not an error.
    """
    async with db.begin():
        run = await get(db, workspace_id, run_id, for_update=True)
        if run.state == RunState.QUEUED:
            run.state, run.reason, run.finished_at = RunState.CANCELLED, "stopped before it started", utcnow()
            run.stop_requested, run.waiting_for = True, None
            cancelled = Transition(
                run.id, workspace_id, run.attempt, RunState.QUEUED, RunState.CANCELLED, run.reason
            )
            await repository.record_transitions(db, actor, [cancelled])
        elif run.state == RunState.RUNNING and not run.stop_requested:
            run.stop_requested = True
            entry = audit.Entry.on("run.stop", run.id, workspace_id, details={"attempt": run.attempt})
            await audit.record(db, actor, entry)
            await repository.notify_stop(db, run.id)
    return run


async def logs(db: AsyncSession, lp: Services, workspace_id: str, run_id: str, offset: int = 0) -> RunLogOut:
    """Tail from the database while the run lives; the stored copy once it has ended."""
    run = await get(db, workspace_id, run_id)
    terminal = run.state in TERMINAL
    if terminal and run.log_uri:
        try:
            data = await logstore.download(lp, run.log_uri)
        except Exception:  # the store being down must not hide the log we still hold
            data = None
        if data is not None:
            return RunLogOut(data[offset:].decode("utf-8", "replace"), len(data), "object_store", True)
    rows = (
        await db.execute(
            select(RunLog.id, RunLog.text)
            .where(RunLog.run_id == run.id, RunLog.id > offset)
            .order_by(RunLog.id)
            .limit(MAX_LOG_LINES)
        )
    ).all()
    text_out = "".join(row.text if row.text.endswith("\n") else row.text + "\n" for row in rows)
    last = rows[-1].id if rows else offset
    return RunLogOut(text_out, last, "database", terminal and len(rows) < MAX_LOG_LINES)


async def result(db: AsyncSession, workspace_id: str, run_id: str) -> ResultOut:
    run = await get(db, workspace_id, run_id)
    preview = run.result_preview or {}
    if not preview and run.row_count is None:
        raise NotFound(f"run {run_id!r} has no result (yet)")
    return ResultOut(
        run_id=run.id,
        row_count=run.row_count,
        columns=list(preview.get("columns", [])),
        rows=list(preview.get("rows", [])),
    )
