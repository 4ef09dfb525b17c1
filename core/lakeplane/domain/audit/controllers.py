"""``/api/v1/audit``: search, JSON-lines export, chain verification. Global admins only."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import AuditEvent
from lakeplane.domain import audit
from lakeplane.domain.audit import services
from lakeplane.domain.audit.schemas import AuditEventOut, AuditPage, VerifyOut
from lakeplane.errors import ValidationFailed
from lakeplane.runtime import Services

NDJSON = "application/x-ndjson"


def to_out(event: AuditEvent) -> AuditEventOut:
    return msgspec.convert(audit.to_json(event), AuditEventOut, from_attributes=True)


_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _check_times(request: Request[Any, Any, Any]) -> None:
    """``since`` and ``until`` are ISO 8601 date-times; a bare number is not read as a Unix time."""
    for name in ("since", "until"):
        raw = request.query_params.get(name)
        if raw is not None and not _ISO_DATE.match(raw):
            raise ValidationFailed(
                f"{name} is not an ISO 8601 date-time", [{"field": name, "message": "not a date-time"}]
            )


async def provide_filter(
    request: Request[Any, Any, Any],
    actor: str | None = None,
    action: str | None = None,
    workspace: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> services.AuditFilter:
    """The search and export filter, from the query string: declared once for both routes."""
    _check_times(request)
    return services.AuditFilter(actor, action, workspace, outcome, since, until)


class AuditController(Controller):
    path = "/api/v1/audit"
    dependencies = {"where": Provide(provide_filter)}
    tags = ["audit"]

    @get("/", operation_id="searchAudit", opt={"permission": "admin"})
    async def search(
        self, db: AsyncSession, where: services.AuditFilter, cursor: str | None = None, limit: int = 100
    ) -> AuditPage:
        rows = await services.search(db, where, cursor, limit)
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditPage(
            items=[to_out(r) for r in rows], next_cursor=str(rows[-1].seq) if more and rows else None
        )

    @get("/export", operation_id="exportAudit", media_type=NDJSON, opt={"permission": "admin"})
    async def export(self, lp: Services, where: services.AuditFilter) -> Stream:
        """One JSON document per line; the response streams, so any size can be exported."""

        async def lines() -> AsyncIterator[bytes]:
            async with lp.sessions() as db:
                async for event in services.scan(db, where):
                    yield audit.log_line(event).encode() + b"\n"

        return Stream(
            lines(),
            media_type=NDJSON,
            headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
        )

    @get("/verify", operation_id="verifyAudit", opt={"permission": "admin"})
    async def verify(self, db: AsyncSession) -> VerifyOut:
        verdict = await audit.verify(db)
        return VerifyOut(ok=verdict.ok, checked=verdict.checked, head=verdict.head, problem=verdict.problem)
