"""The run queue, in Postgres: claim with ``FOR UPDATE SKIP LOCKED``, hold by lease, fence by token.

Limits are checked at claim time under a per-workspace advisory lock (taken with
``pg_try_advisory_xact_lock``, so claimers never queue behind each other): two
workers cannot both see "7 of 8 running" and both start the eighth. A run that may
not start says why in ``waiting_for`` and is looked at again after
:data:`RECHECK_S`, which keeps a saturated job from hiding the runs behind it.
The statements, and the fencing every write of an attempt keeps, are in
:mod:`lakeplane.domain.runs.repository`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain import audit
from lakeplane.domain.runs import repository
from lakeplane.domain.runs.lifecycle import RunState, Transition

RECHECK_S = 1.0


@dataclasses.dataclass(frozen=True)
class Limits:
    #: Runs each named queue may have running at once in one workspace.
    queues: dict[str, int]
    #: Runs one workspace may have running at once, over all queues.
    workspace: int


class Contended(Exception):
    """Another worker is claiming in the same workspaces right now; try again in a moment."""


@dataclasses.dataclass(frozen=True)
class Lease:
    run_id: str
    workspace_id: str
    token: str
    attempt: int
    adopted: bool = False
    previous_owner: str | None = None


async def claim(
    db: AsyncSession,
    actor: audit.Actor,
    owner: str,
    queues: list[str],
    want: int,
    lease_s: float,
    limits: Limits,
) -> list[Lease]:
    """Start up to ``want`` queued runs as attempts leased to ``owner``; commits.

    Raises :class:`Contended` when there were runs to start but other workers held
    every workspace involved.
    """
    async with db.begin():
        candidates = await repository.claimable(db, queues, want * 4 + 16)
        if not candidates:
            return []
        locked = await repository.lock_workspaces(db, dict.fromkeys(c["workspace_id"] for c in candidates))
        candidates = [c for c in candidates if c["workspace_id"] in locked]
        if not candidates:
            raise Contended
        per_workspace: Counter[str] = Counter()
        per_queue: Counter[tuple[str, str]] = Counter()
        per_job: Counter[str] = Counter()
        for row in await repository.running_counts(db, sorted(locked)):
            per_workspace[row["workspace_id"]] += row["n"]
            per_queue[(row["workspace_id"], row["queue"])] += row["n"]
            per_job[row["job_id"]] += row["n"]
        admitted: list[dict[str, Any]] = []
        waiting: dict[str, str] = {}
        for c in candidates:
            if len(admitted) >= want:
                break
            ws, queue, job = c["workspace_id"], c["queue"], c["job_id"]
            if c["max_concurrency"] is not None and per_job[job] >= c["max_concurrency"]:
                why = "job_limit"
            elif per_workspace[ws] >= limits.workspace:
                why = "workspace_limit"
            elif per_queue[(ws, queue)] >= limits.queues.get(queue, 0):
                why = "queue_full"
            else:
                admitted.append(dict(c))
                per_job[job] += 1
                per_workspace[ws] += 1
                per_queue[(ws, queue)] += 1
                continue
            waiting[c["id"]] = why
        await repository.hold_back(db, waiting, RECHECK_S)
        if not admitted:
            return []
        started = await repository.start(
            db,
            owner,
            lease_s,
            ids=[a["id"] for a in admitted],
            tokens=[secrets.token_hex(16) for _ in admitted],
            timeouts=[a["timeout_s"] for a in admitted],
        )
        leases = [Lease(r["id"], r["workspace_id"], r["lease_token"], r["attempt"]) for r in started]
        await repository.record_transitions(
            db,
            actor,
            [
                Transition(
                    lease.run_id,
                    lease.workspace_id,
                    lease.attempt,
                    RunState.QUEUED,
                    RunState.RUNNING,
                    worker=owner,
                )
                for lease in leases
            ],
        )
        return leases


async def heartbeat(db: AsyncSession, held: dict[str, str], lease_s: float) -> dict[str, bool]:
    """Renew the leases in ``held`` (run id -> token); return the still-held ones with their stop flag."""
    if not held:
        return {}
    async with db.begin():
        return await repository.renew(db, held, lease_s)


async def adopt_expired(db: AsyncSession, owner: str, lease_s: float, limit: int) -> list[Lease]:
    """Take over running runs whose lease ran out: their worker died, hung or lost the database."""
    async with db.begin():
        leases = []
        for row in await repository.expired(db, limit):
            lease = Lease(
                row["id"],
                row["workspace_id"],
                secrets.token_hex(16),
                row["attempt"],
                True,
                row["lease_owner"],
            )
            await repository.adopt(db, lease.run_id, owner, lease.token, lease_s)
            leases.append(lease)
        await repository.append_log(
            db,
            [
                repository.LogLine(
                    lease.run_id,
                    lease.attempt,
                    lease.token,
                    repository.log_text(
                        f"lease of {lease.previous_owner} expired; attempt {lease.attempt} adopted by {owner}"
                    ),
                )
                for lease in leases
            ],
        )
        return leases


async def release(db: AsyncSession, held: dict[str, str]) -> None:
    """Let other workers adopt these runs now instead of after the lease (used when draining times out)."""
    if held:
        async with db.begin():
            await repository.expire_now(db, held)
