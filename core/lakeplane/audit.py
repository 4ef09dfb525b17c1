"""The audit log: who did what, when, from where, and how it went.

:func:`record` is called inside the transaction of the change it describes, so the
event and the change commit or roll back together. Events form a hash chain: each
stores ``content_hash``, the SHA-256 of its canonical JSON, and ``hash =
sha256(prev_hash ":" seq ":" content_hash)``; ``seq`` has no gaps, so :func:`verify`
finds an edited, inserted or deleted row. The content is hashed here and the event
inserted into ``audit_pending`` with no lock; when the transaction commits, a
deferred trigger in the database takes the advisory lock that keeps the chain from
forking and links the transaction's events (migration ``20261125_0002``). The lock
that every writer waits for is thus held only inside the commit. (Events of the
first scheme, before ``content_hash`` existed, hashed their JSON including
``prev_hash`` and ``seq``; they still verify.) Values are
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
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import AuditEvent, AuditPending
from lakeplane.ids import new_id
from lakeplane.timeutil import utcnow

log = logging.getLogger("lakeplane.audit")
GENESIS = "0" * 64


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


#: The fields an event's content hash covers (the chain fields are linked by ``hash``).
CONTENT_FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "workspace_id",
    "source_ip",
    "request_id",
    "outcome",
    "details",
)


def _fields(event: AuditEvent) -> dict[str, Any]:
    fields = {name: getattr(event, name) for name in CONTENT_FIELDS}
    fields["occurred_at"] = event.occurred_at.astimezone(dt.UTC).isoformat()
    return fields


def content(event: AuditEvent) -> bytes:
    """The event's own fields as canonical JSON: sorted keys, UTC ISO time."""
    return msgspec.json.encode(_fields(event), order="sorted")


def content_hash(event: AuditEvent) -> str:
    return hashlib.sha256(content(event)).hexdigest()


def link(prev_hash: str, seq: int, content_digest: str) -> str:
    """The chain hash of event ``seq``, as the database's ``lakeplane_audit_link`` computes it."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{content_digest}".encode()).hexdigest()


def first_scheme_digest(event: AuditEvent) -> str:
    """The hash of an event written before ``content_hash``: its JSON with ``seq`` and ``prev_hash``."""
    fields = {**_fields(event), "seq": event.seq, "prev_hash": event.prev_hash}
    return hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()


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
    """Append several events, in order, to ``session``'s transaction: one insert, no lock.

    They join the chain when the transaction commits (``seq`` and ``hash`` are set
    then, by the database), or vanish with it. The events are returned without
    those two fields and are not attached to ``session``.
    """
    if not entries:
        return []
    now = utcnow()
    events = []
    for entry in entries:
        event = AuditEvent(
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
        )
        event.content_hash = content_hash(event)
        events.append(event)
    rows = [
        {**{name: getattr(e, name) for name in CONTENT_FIELDS}, "content_hash": e.content_hash}
        for e in events
    ]
    await session.execute(insert(AuditPending), rows)
    if log.isEnabledFor(logging.INFO):
        for event in events:
            extra = {"run_id": event.target_id} if event.target_type == "run" else None
            log.info("audit %s", log_line(event), extra=extra)
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
        if event.content_hash is None:
            intact = first_scheme_digest(event) == event.hash
        else:
            intact = (
                content_hash(event) == event.content_hash
                and link(prev, event.seq, event.content_hash) == event.hash
            )
        if not intact:
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
