"""The run queue, in Postgres: claim with ``FOR UPDATE SKIP LOCKED``, hold by lease, fence by token.

A worker owns an attempt while ``runs.lease_token`` holds the token it wrote when it
claimed (or adopted) the run. Every later write of that attempt is an ``UPDATE ...
WHERE lease_token = :token AND state = 'running'``: a worker that was paused past
its lease and whose run was adopted by another finds zero rows and stands down.

Limits are checked at claim time under a per-workspace advisory lock (taken with
``pg_try_advisory_xact_lock``, so claimers never queue behind each other): two
workers cannot both see "7 of 8 running" and both start the eighth. A run that may
not start says why in ``waiting_for`` and is looked at again after
:data:`RECHECK_S`, which keeps a saturated job from hiding the runs behind it.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import Counter
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain import audit
from lakeplane.domain.runs.services import Transition, record_transitions

#: Namespace of the advisory locks taken by the queue (the audit log uses another).
LOCK_NAMESPACE = 7420932
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


_CANDIDATES = text(
    """
    SELECT r.id, r.workspace_id, r.job_id, r.queue, r.attempt, r.waiting_for,
           v.max_concurrency, v.timeout_s
    FROM runs r JOIN job_versions v ON v.id = r.job_version_id
    WHERE r.state = 'queued' AND r.queue = ANY(:queues) AND r.next_attempt_at <= clock_timestamp()
    ORDER BY r.next_attempt_at, r.id
    LIMIT :scan
    FOR UPDATE OF r SKIP LOCKED
    """
)
_RUNNING = text(
    """
    SELECT workspace_id, queue, job_id, count(*) AS n FROM runs
    WHERE state = 'running' AND workspace_id = ANY(:workspaces)
    GROUP BY workspace_id, queue, job_id
    """
)
_START = text(
    """
    UPDATE runs SET state = 'running', attempt = runs.attempt + 1, lease_owner = :owner,
        lease_token = u.token, lease_expires_at = clock_timestamp() + make_interval(secs => :lease),
        started_at = coalesce(runs.started_at, clock_timestamp()), waiting_for = NULL, reason = NULL,
        engine_handle = NULL, next_attempt_at = NULL,
        deadline_at = CASE WHEN u.timeout IS NULL THEN NULL
                           ELSE clock_timestamp() + make_interval(secs => u.timeout) END
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[]), CAST(:timeouts AS float8[]))
        AS u(id, token, timeout)
    WHERE runs.id = u.id
    RETURNING runs.id, runs.workspace_id, runs.attempt, runs.lease_token
    """
)
_WAIT = text(
    """
    UPDATE runs SET waiting_for = u.why, next_attempt_at = clock_timestamp() + make_interval(secs => :recheck)
    FROM unnest(CAST(:ids AS text[]), CAST(:whys AS text[])) AS u(id, why)
    WHERE runs.id = u.id
    """
)


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
        candidates = (
            (await db.execute(_CANDIDATES, {"queues": queues, "scan": want * 4 + 16})).mappings().all()
        )
        if not candidates:
            return []
        locked: set[str] = set()
        for workspace_id in dict.fromkeys(c["workspace_id"] for c in candidates):
            got = await db.scalar(
                text("SELECT pg_try_advisory_xact_lock(:ns, hashtext(:ws))"),
                {"ns": LOCK_NAMESPACE, "ws": workspace_id},
            )
            if got:
                locked.add(workspace_id)
        candidates = [c for c in candidates if c["workspace_id"] in locked]
        if not candidates:
            raise Contended
        per_workspace: Counter[str] = Counter()
        per_queue: Counter[tuple[str, str]] = Counter()
        per_job: Counter[str] = Counter()
        for row in (await db.execute(_RUNNING, {"workspaces": sorted(locked)})).mappings():
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
        if waiting:
            await db.execute(
                _WAIT, {"ids": list(waiting), "whys": list(waiting.values()), "recheck": RECHECK_S}
            )
        if not admitted:
            return []
        started = (
            (
                await db.execute(
                    _START,
                    {
                        "owner": owner,
                        "lease": lease_s,
                        "ids": [a["id"] for a in admitted],
                        "tokens": [secrets.token_hex(16) for _ in admitted],
                        "timeouts": [a["timeout_s"] for a in admitted],
                    },
                )
            )
            .mappings()
            .all()
        )
        leases = [Lease(r["id"], r["workspace_id"], r["lease_token"], r["attempt"]) for r in started]
        await record_transitions(
            db,
            actor,
            [
                Transition(lease.run_id, lease.workspace_id, lease.attempt, "queued", "running", worker=owner)
                for lease in leases
            ],
        )
        return leases


_HEARTBEAT = text(
    """
    UPDATE runs SET lease_expires_at = clock_timestamp() + make_interval(secs => :lease)
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[])) AS u(id, token)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = 'running'
    RETURNING runs.id, runs.stop_requested
    """
)


async def heartbeat(db: AsyncSession, held: dict[str, str], lease_s: float) -> dict[str, bool]:
    """Renew the leases in ``held`` (run id -> token); return the still-held ones with their stop flag."""
    if not held:
        return {}
    async with db.begin():
        rows = await db.execute(
            _HEARTBEAT, {"ids": list(held), "tokens": list(held.values()), "lease": lease_s}
        )
        return {row.id: row.stop_requested for row in rows}


_EXPIRED = text(
    """
    SELECT id, workspace_id, attempt, lease_owner FROM runs
    WHERE state = 'running' AND lease_expires_at < clock_timestamp()
    ORDER BY lease_expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
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
_LOG = text(
    """
    INSERT INTO run_logs (run_id, attempt, text, at)
    SELECT :run_id, :attempt, :text, clock_timestamp()
    """
)


async def adopt_expired(db: AsyncSession, owner: str, lease_s: float, limit: int) -> list[Lease]:
    """Take over running runs whose lease ran out: their worker died, hung or lost the database."""
    async with db.begin():
        rows = (await db.execute(_EXPIRED, {"limit": limit})).mappings().all()
        leases = []
        for row in rows:
            token = secrets.token_hex(16)
            await db.execute(_ADOPT, {"owner": owner, "token": token, "lease": lease_s, "id": row["id"]})
            await db.execute(
                _LOG,
                {
                    "run_id": row["id"],
                    "attempt": row["attempt"],
                    "text": f"[worker] lease of {row['lease_owner']} expired; attempt {row['attempt']} "
                    f"adopted by {owner}\n",
                },
            )
            leases.append(
                Lease(row["id"], row["workspace_id"], token, row["attempt"], True, row["lease_owner"])
            )
        return leases


_EXPIRE_NOW = text(
    """
    UPDATE runs SET lease_expires_at = clock_timestamp()
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[])) AS u(id, token)
    WHERE runs.id = u.id AND runs.lease_token = u.token AND runs.state = 'running'
    """
)


async def release(db: AsyncSession, held: dict[str, str]) -> None:
    """Let other workers adopt these runs now instead of after the lease (used when draining times out)."""
    if held:
        async with db.begin():
            await db.execute(_EXPIRE_NOW, {"ids": list(held), "tokens": list(held.values())})
