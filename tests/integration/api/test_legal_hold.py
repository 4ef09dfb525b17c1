"""Legal hold and retention policy on a dataset: set and lifted by admins, audited, and the
maintenance check refuses what they forbid."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import select

from lakeplane.db.models import AuditEvent, Dataset
from lakeplane.domain.datasets.services import check_maintenance
from lakeplane.errors import Conflict, ValidationFailed


async def make_dataset(client: Any) -> tuple[str, dict[str, Any]]:
    ws = (
        await client.post("/api/v1/workspaces", json={"slug": "lh-" + secrets.token_hex(3), "name": "h"})
    ).json()
    base = f"/api/v1/workspaces/{ws['id']}/datasets"
    ds = await client.post(base, json={"name": "ledger", "owner": "finance", "location": "s3://lake/ledger"})
    assert ds.status_code == 201, ds.text
    return base, ds.json()


async def test_hold_is_set_and_lifted_by_admins_and_audited(
    admin_client: Any, new_user: Any, client_for: Any, lakeplane_services: Any
) -> None:
    base, ds = await make_dataset(admin_client)
    url = f"{base}/{ds['id']}/legal-hold"
    assert ds["legal_hold"] is False
    ws_id = ds["workspace_id"]
    _, ws_admin_token = await new_user("wsadmin", roles={ws_id: "admin"})
    ws_admin = await client_for(ws_admin_token)
    refused = await ws_admin.put(url, json={"reason": "not mine to set"})
    assert refused.status_code == 403, refused.text

    held = await admin_client.put(url, json={"reason": "litigation 2026-117"})
    assert held.status_code == 200, held.text
    assert held.json()["legal_hold"] is True and held.json()["legal_hold_reason"] == "litigation 2026-117"
    assert (await admin_client.get(f"{base}/{ds['id']}")).json()["legal_hold"] is True
    assert (await ws_admin.delete(url)).status_code == 403

    async with lakeplane_services.sessions() as db:
        row = await db.get(Dataset, ds["id"])
        assert row is not None
        with pytest.raises(
            Conflict, match="under legal hold \\(litigation 2026-117\\): expire_snapshots is refused"
        ):
            check_maintenance(row, "expire_snapshots", older_than_days=30, keep_last=5)
        with pytest.raises(Conflict, match="remove_orphan_files is refused"):
            check_maintenance(row, "remove_orphan_files")
        check_maintenance(row, "optimize")  # rewrites files, loses nothing: allowed under a hold

    lifted = await admin_client.delete(url)
    assert lifted.status_code == 200 and lifted.json()["legal_hold"] is False
    again = await admin_client.delete(url)
    assert again.status_code == 409 and "not under legal hold" in again.json()["detail"]
    async with lakeplane_services.sessions() as db:
        row = await db.get(Dataset, ds["id"])
        assert row is not None
        check_maintenance(row, "expire_snapshots", older_than_days=30, keep_last=5)
        actions = (
            await db.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == ds["id"]).order_by(AuditEvent.seq)
            )
        ).all()
    assert [a for a in actions if a.startswith("dataset.legal_hold")] == [
        "dataset.legal_hold.set",
        "dataset.legal_hold.lift",
    ]


async def test_retention_policy_refuses_expiry_of_younger_snapshots(
    admin_client: Any, lakeplane_services: Any
) -> None:
    base, ds = await make_dataset(admin_client)
    url = f"{base}/{ds['id']}/retention"
    bad = await admin_client.put(url, json={"expire_older_than_days": 0, "keep_last": 3})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "expire_older_than_days", bad.text
    set_ = await admin_client.put(
        url, json={"expire_older_than_days": 14, "keep_last": 3, "orphan_older_than_days": 3}
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["retention"] == {
        "expire_older_than_days": 14,
        "keep_last": 3,
        "orphan_older_than_days": 3,
    }
    async with lakeplane_services.sessions() as db:
        row = await db.get(Dataset, ds["id"])
        assert row is not None
        with pytest.raises(ValidationFailed, match="younger than the retention policy"):
            check_maintenance(row, "expire_snapshots", older_than_days=7, keep_last=3)
        with pytest.raises(ValidationFailed, match="fewer than the retention policy"):
            check_maintenance(row, "expire_snapshots", older_than_days=30, keep_last=1)
        check_maintenance(row, "expire_snapshots", older_than_days=14, keep_last=3)
        events = (await db.scalars(select(AuditEvent.action).where(AuditEvent.target_id == ds["id"]))).all()
    assert "dataset.retention.set" in events
