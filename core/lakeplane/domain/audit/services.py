"""Queries over the audit log, by keyset on ``seq``: newest first unless asked; the cursor is the last ``seq`` seen."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import AuditEvent
from lakeplane.db.pagination import check_limit
from lakeplane.errors import ValidationFailed

SCAN_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    #: A user id or a user name.
    actor: str | None = None
    #: An exact action (``auth.login``) or a prefix ending in a dot (``user.``).
    action: str | None = None
    workspace: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor:
            query = query.where(or_(AuditEvent.actor_id == self.actor, AuditEvent.actor_name == self.actor))
        if self.action:
            if self.action.endswith("."):
                query = query.where(AuditEvent.action.startswith(self.action, autoescape=True))
            else:
                query = query.where(AuditEvent.action == self.action)
        if self.workspace:
            query = query.where(AuditEvent.workspace_id == self.workspace)
        if self.outcome:
            query = query.where(AuditEvent.outcome == self.outcome)
        if self.since:
            query = query.where(AuditEvent.occurred_at >= self.since)
        if self.until:
            query = query.where(AuditEvent.occurred_at < self.until)
        return query


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationFailed("cursor is not valid", [{"field": "cursor", "message": "not a cursor"}])
    return int(cursor)


def _keyset(where: AuditFilter, after: int | None, oldest_first: bool) -> Select[Any]:
    """The matching events past ``after`` (a ``seq``), in ``seq`` order."""
    query = where.apply(select(AuditEvent))
    if oldest_first:
        if after is not None:
            query = query.where(AuditEvent.seq > after)
        return query.order_by(AuditEvent.seq)
    if after is not None:
        query = query.where(AuditEvent.seq < after)
    return query.order_by(AuditEvent.seq.desc())


async def search(
    db: AsyncSession, where: AuditFilter, cursor: str | None, limit: int
) -> Sequence[AuditEvent]:
    check_limit(limit)
    query = _keyset(where, parse_cursor(cursor), oldest_first=False)
    return (await db.scalars(query.limit(limit + 1))).all()


async def scan(
    db: AsyncSession,
    where: AuditFilter = AuditFilter(),
    *,
    oldest_first: bool = False,
    batch: int = SCAN_BATCH,
) -> AsyncIterator[AuditEvent]:
    """Every matching event, a batch at a time; ``db`` is emptied between batches so memory stays flat."""
    after: int | None = None
    while True:
        rows = (await db.scalars(_keyset(where, after, oldest_first).limit(batch))).all()
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1].seq
        db.expunge_all()
