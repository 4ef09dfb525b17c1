"""The one keyset walk over the audit log, behind both the export and the verifier, misses no event
and repeats none, whatever the batch size."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from lakeplane.domain import audit
from lakeplane.domain.audit.services import AuditFilter, scan


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5])
async def test_scan_yields_every_match_once_in_order(lakeplane_services: Any, batch: int) -> None:
    workspace = "ws_scan" + secrets.token_hex(4)
    async with lakeplane_services.sessions() as db, db.begin():
        recorded = await audit.record(
            db,
            audit.Actor.system("test"),
            *(audit.Entry("test.scan", workspace_id=workspace, details={"n": n}) for n in range(4)),
        )
    ids = [event.id for event in recorded]
    where = AuditFilter(workspace=workspace)
    async with lakeplane_services.sessions() as db:
        newest_first = [(e.seq, e.id) async for e in scan(db, where, batch=batch)]
        oldest_first = [(e.seq, e.id) async for e in scan(db, where, oldest_first=True, batch=batch)]
    assert [event_id for _, event_id in oldest_first] == ids
    assert newest_first == oldest_first[::-1]
    assert [seq for seq, _ in oldest_first] == sorted({seq for seq, _ in oldest_first})
