"""Appending to the audit log: who did what, when, from where, and how it went.

:func:`record` is called inside the transaction of the change it describes, so the
events and the change commit or roll back together. Each event's content is hashed
here (``content_hash``, the SHA-256 of its canonical JSON) and inserted into
``audit_pending`` with no lock; when the transaction commits, a deferred trigger in
the database takes the advisory lock that keeps the chain from forking and links the
transaction's events (migration ``20261125_0002``; the chain is described in
:mod:`lakeplane.domain.audit.chain`). The lock that every writer waits for is thus
held only inside the commit. Values are stored and exported as JSON, so a name
holding CR/LF or markup stays one field; the copy sent to the ``lakeplane.audit``
logger is one JSON document per line for the same reason (a control character, NEL
or line separator is written as a JSON escape, never raw). That copy is written
before the transaction commits: the table is the record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from typing import Any

import msgspec
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import AuditEvent, AuditPending
from lakeplane.ids import new_id
from lakeplane.timeutil import utcnow

log = logging.getLogger("lakeplane.audit")


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


def canonical_fields(event: AuditEvent) -> dict[str, Any]:
    """The event's content fields as plain values, its time in UTC ISO form."""
    fields = {name: getattr(event, name) for name in CONTENT_FIELDS}
    fields["occurred_at"] = event.occurred_at.astimezone(dt.UTC).isoformat()
    return fields


def content(event: AuditEvent) -> bytes:
    """The event's own fields as canonical JSON: sorted keys, UTC ISO time."""
    return msgspec.json.encode(canonical_fields(event), order="sorted")


def content_hash(event: AuditEvent) -> str:
    return hashlib.sha256(content(event)).hexdigest()


@dataclasses.dataclass(frozen=True)
class Entry:
    """One event to append: what was done to what. The actor and the time are added by the log."""

    action: str
    target_type: str | None = None
    target_id: str | None = None
    workspace_id: str | None = None
    outcome: str = "success"
    details: dict[str, Any] | None = None

    @classmethod
    def on(
        cls,
        action: str,
        target_id: str,
        workspace_id: str | None = None,
        *,
        outcome: str = "success",
        details: dict[str, Any] | None = None,
    ) -> Entry:
        """``action`` done to ``target_id``, a target of the type that the action names first
        (``dataset`` in ``dataset.update``)."""
        return cls(action, action.partition(".")[0], target_id, workspace_id, outcome, details)


async def record(session: AsyncSession, actor: Actor, *entries: Entry) -> list[AuditEvent]:
    """Append ``entries``, in order, to ``session``'s transaction: one insert, no lock.

    They join the chain when the transaction commits (``seq`` and ``hash`` are set
    then, by the database), or vanish with it. The events are returned without
    those two fields and are not attached to ``session``. Never put secret values
    in ``details``.
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
