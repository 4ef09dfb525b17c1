from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec


class AuditEventOut(msgspec.Struct):
    id: str
    seq: int
    occurred_at: dt.datetime
    actor_id: str | None
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    workspace_id: str | None
    source_ip: str | None
    request_id: str | None
    outcome: str
    details: dict[str, Any]
    hash: str


class AuditPage(msgspec.Struct):
    items: list[AuditEventOut]
    #: Pass as ``cursor`` for the next (older) page.
    next_cursor: str | None = None


class VerifyOut(msgspec.Struct):
    ok: bool
    checked: int
    head: str
    problem: str | None = None
