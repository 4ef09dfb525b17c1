"""The audit log: who did what, when, from where, and how it went.

:func:`record` is called inside the transaction of the change it describes, so the
event and the change commit or roll back together. Events form a hash chain: each
stores the SHA-256 of its canonical JSON including the previous event's hash, and
``seq`` has no gaps, so :func:`verify` finds an edited, inserted or deleted row.
An advisory lock serialises appends so that the chain cannot fork. Values are
stored and exported as JSON, so a name holding CR/LF or markup stays one field;
the copy sent to the ``lakeplane.audit`` logger is one JSON document per line for
the same reason (a control character, NEL or line separator is written as a JSON
escape, never raw).
That copy is written before the transaction commits: the table is the record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import AuditEvent
from lakeplane.ids import new_id
from lakeplane.timeutil import utcnow

log = logging.getLogger("lakeplane.audit")
GENESIS = "0" * 64
_LOCK = text("SELECT pg_advisory_xact_lock(7420931)")
_COLUMNS = tuple(AuditEvent.__table__.columns.keys())


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is acting, and the request it came in on."""

    id: str | None
    name: str
    source_ip: str | None = None
    request_id: str | None = None
    is_admin: bool = False

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(id=None, name=name, is_admin=True)


def canonical(event: AuditEvent) -> bytes:
    fields = {
        "seq": event.seq,
        "id": event.id,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "workspace_id": event.workspace_id,
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "outcome": event.outcome,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return msgspec.json.encode(fields, order="sorted")


def digest(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


@dataclasses.dataclass(frozen=True)
class Entry:
    """One event to append: what was done to what. The actor and the time are added by the log."""

    action: str
    target_type: str | None = None
    target_id: str | None = None
    workspace_id: str | None = None
    outcome: str = "success"
    details: dict[str, Any] | None = None


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    workspace_id: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in ``session``'s transaction. Never put secret values in ``details``."""
    entry = Entry(action, target_type, target_id, workspace_id, outcome, details)
    return (await record_many(session, actor, [entry]))[0]


async def record_many(session: AsyncSession, actor: Actor, entries: Sequence[Entry]) -> list[AuditEvent]:
    """Append several events in ``session``'s transaction, in order, under one lock and one insert.

    The lock is held until the transaction ends, so callers append last, just before
    they commit; a batch costs the chain one lock however many events it holds.
    The events are returned as written; they are not attached to ``session``.
    """
    if not entries:
        return []
    await session.execute(_LOCK)
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    now = utcnow()
    events = []
    for entry in entries:
        seq += 1
        event = AuditEvent(
            seq=seq,
            id=new_id("evt"),
            occurred_at=now,
            actor_id=actor.id,
            actor_name=actor.name,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            workspace_id=entry.workspace_id,
            source_ip=actor.source_ip,
            request_id=actor.request_id,
            outcome=entry.outcome,
            details=entry.details or {},
            prev_hash=prev,
        )
        event.hash = prev = digest(event)
        events.append(event)
    await session.execute(insert(AuditEvent), [{c: getattr(e, c) for c in _COLUMNS} for e in events])
    if log.isEnabledFor(logging.INFO):
        for event in events:
            log.info("audit %s", log_line(event))
    return events


def log_line(event: AuditEvent) -> str:
    """The event as one line of JSON: CR, LF and every other control character escaped."""
    line = msgspec.json.encode(to_json(event)).decode()
    return line.translate(_LINE_BREAKERS)


#: JSON leaves these raw, but some log viewers break lines at them.
_LINE_BREAKERS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


@dataclasses.dataclass
class Verdict:
    ok: bool
    checked: int
    head: str
    problem: str | None = None
    seq: int | None = None


async def verify(session: AsyncSession, batch: int = 5000) -> Verdict:
    """Walk the whole chain; report the first event that does not fit."""
    expected_seq, prev, checked = 1, GENESIS, 0
    async for event in _all_events(session, batch):
        if event.seq != expected_seq:
            return Verdict(False, checked, prev, f"event {expected_seq} is missing", expected_seq)
        if event.prev_hash != prev:
            return Verdict(
                False, checked, prev, f"event {event.seq} does not follow its predecessor", event.seq
            )
        if digest(event) != event.hash:
            return Verdict(False, checked, prev, f"event {event.seq} was altered", event.seq)
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    return Verdict(True, checked, prev)


async def _all_events(session: AsyncSession, batch: int) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq
        session.expunge_all()


def to_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "actor_id": event.actor_id,
        "actor": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "workspace_id": event.workspace_id,
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "outcome": event.outcome,
        "details": event.details,
        "hash": event.hash,
    }
