"""Dataset registrations: a logical name, owner and tags for an Iceberg table.

A dataset registered from a catalog connection keeps its namespace and table, so
its detail shows schema, row count and snapshots from the live catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Dataset, Workspace
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets.schemas import (
    DatasetCreate,
    DatasetDetail,
    DatasetOut,
    DatasetUpdate,
    RetentionPolicy,
)
from lakeplane.domain.etags import etag
from lakeplane.errors import Conflict, LakeplaneError, NotFound, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.interfaces import Catalog, Identifier, MaintenanceSpec, TableIdent, TableInfo
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow


def tag_of(detail: DatasetDetail) -> str:
    """The ETag of a dataset: that of its stored representation, not of the live table summary."""
    return etag(resources.to_struct(DatasetOut, detail))


def to_out(ds: Dataset | Row[Any]) -> DatasetOut:
    return resources.to_struct(
        DatasetOut,
        ds,
        tags=list(ds.tags),
        namespace=ds.namespace.split(".") if ds.namespace else None,
        table=ds.table_name,
        legal_hold=bool(ds.legal_hold),
        retention=msgspec.convert(ds.retention, RetentionPolicy) if ds.retention else None,
    )


async def load_table(
    db: AsyncSession, lp: Services, workspace_id: str, conn_id: str, ident: TableIdent
) -> TableInfo:
    conn = await connections.get(db, workspace_id, conn_id)
    if conn.kind != "catalog":
        raise ValidationFailed(
            f"connection {conn.name!r} is not a catalog",
            [{"field": "connection_id", "message": "not a catalog"}],
        )
    async with connections.open_component(lp, conn) as catalog:
        assert isinstance(catalog, Catalog)
        return await catalog.load_table(ident)


async def create(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace_id: str, data: DatasetCreate
) -> Dataset:
    location = data.location
    if data.connection_id is not None:
        if data.namespace is None or data.table is None:
            raise ValidationFailed(
                "namespace and table are required with connection_id",
                [{"field": "table", "message": "required with connection_id"}],
            )
        info = await load_table(
            db, lp, workspace_id, data.connection_id, TableIdent(tuple(data.namespace), data.table)
        )
        await db.commit()  # end the read before the slow call; keeps loaded rows usable
        location = location or info.location
    elif location is None:
        raise ValidationFailed(
            "give a location, or a catalog connection_id with namespace and table",
            [{"field": "location", "message": "required without connection_id"}],
        )
    assert location is not None
    ds = Dataset(
        id=new_id("ds"),
        workspace_id=workspace_id,
        name=data.name,
        owner=data.owner,
        location=location,
        format=data.format,
        tags=sorted(set(data.tags)),
        description=data.description,
        connection_id=data.connection_id,
        namespace=".".join(data.namespace) if data.namespace else None,
        table_name=data.table,
        created_by=actor.id,
    )
    details = {"name": ds.name, "location": ds.location}
    await resources.insert(
        db,
        actor,
        audit.Entry.on("dataset.register", ds.id, workspace_id, details=details),
        ds,
        conflict=f"a dataset named {data.name!r} already exists in this workspace",
    )
    return ds


async def get(db: AsyncSession, workspace_id: str, dataset_id: str, *, for_update: bool = False) -> Dataset:
    return await resources.get(db, Dataset, workspace_id, dataset_id, "dataset", for_update=for_update)


async def detail(db: AsyncSession, lp: Services, workspace_id: str, dataset_id: str) -> DatasetDetail:
    ds = await get(db, workspace_id, dataset_id)
    out = resources.to_struct(DatasetDetail, to_out(ds))
    if ds.connection_id and ds.namespace and ds.table_name:
        try:
            info = await load_table(
                db,
                lp,
                workspace_id,
                ds.connection_id,
                TableIdent(tuple(ds.namespace.split(".")), ds.table_name),
            )
            out.live = live_summary(info)
        except LakeplaneError as exc:
            out.live_error = exc.detail
    return out


def table_summary(info: TableInfo) -> dict[str, Any]:
    """What a dataset shows of its table: location, schema, row count, last snapshot."""
    snapshot = info.current_snapshot
    return {
        "location": info.location,
        "schema": msgspec.to_builtins(info.schema),
        "row_count": snapshot.total_records if snapshot else 0,
        "last_snapshot": msgspec.to_builtins(snapshot) if snapshot else None,
    }


def live_summary(info: TableInfo) -> dict[str, Any]:
    summary = table_summary(info)
    summary["partition_spec"] = [
        {"source": p.source_field, "transform": p.transform, "name": p.name} for p in info.partition_spec
    ]
    summary["snapshots"] = [
        {
            "snapshot_id": s.snapshot_id,
            "timestamp": s.timestamp,
            "operation": s.operation,
            "total_records": s.total_records,
        }
        for s in sorted(info.snapshots, key=lambda s: s.timestamp)
    ]
    return summary


async def update(
    db: AsyncSession,
    actor: audit.Actor,
    workspace_id: str,
    dataset_id: str,
    data: DatasetUpdate,
    if_match: str | None = None,
) -> Dataset:
    async with db.begin():
        ds = await resources.locked(db, Dataset, workspace_id, dataset_id, "dataset", if_match, to_out)
        tags = sorted(set(data.tags)) if data.tags is not None else None
        changed = resources.apply(ds, owner=data.owner, tags=tags, description=data.description)
        ds.updated_at = utcnow()
        entry = audit.Entry.on("dataset.update", ds.id, workspace_id, details={"changed": changed})
        await audit.record(db, actor, entry)
    return ds


async def delete(
    db: AsyncSession, actor: audit.Actor, workspace_id: str, dataset_id: str, if_match: str | None = None
) -> None:
    async with db.begin():
        ds = await resources.locked(db, Dataset, workspace_id, dataset_id, "dataset", if_match, to_out)
        await db.delete(ds)
        entry = audit.Entry.on("dataset.unregister", ds.id, workspace_id, details={"name": ds.name})
        await audit.record(db, actor, entry)


async def search(
    db: AsyncSession,
    workspace_id: str,
    *,
    tag: str | None,
    owner: str | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Row[Any]]:
    query = select_rows(Dataset).where(Dataset.workspace_id == workspace_id)
    if tag:
        query = query.where(Dataset.tags.contains([tag]))
    if owner:
        query = query.where(Dataset.owner == owner)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Dataset.name.ilike(pattern))
    return await fetch_page(db, query, Dataset.id, cursor, limit)


async def workspace_id(db: AsyncSession, ref: str) -> str:
    """The id of the workspace ``ref`` names (id or slug), for routes a global admin calls."""
    async with db.begin():
        found = await db.scalar(select(Workspace.id).where((Workspace.id == ref) | (Workspace.slug == ref)))
    if found is None:
        raise NotFound("workspace not found")
    return str(found)


async def set_legal_hold(
    db: AsyncSession, actor: audit.Actor, workspace_id: str, dataset_id: str, reason: str | None
) -> Dataset:
    """Set (``reason`` given) or lift (``None``) the dataset's legal hold; audited either way."""
    async with db.begin():
        ds = await get(db, workspace_id, dataset_id)
        if reason is None and not ds.legal_hold:
            raise Conflict(f"dataset {ds.name!r} is not under legal hold")
        previous = ds.legal_hold_reason
        ds.legal_hold = reason is not None
        ds.legal_hold_reason = reason
        ds.legal_hold_by = actor.id if reason is not None else None
        ds.legal_hold_at = utcnow() if reason is not None else None
        ds.updated_at = utcnow()
        action = "dataset.legal_hold.set" if reason is not None else "dataset.legal_hold.lift"
        details = {"reason": reason} if reason is not None else {"lifted_reason": previous}
        await audit.record(db, actor, audit.Entry.on(action, ds.id, workspace_id, details=details))
    return ds


async def set_retention(
    db: AsyncSession, actor: audit.Actor, workspace_id: str, dataset_id: str, policy: RetentionPolicy
) -> Dataset:
    async with db.begin():
        ds = await get(db, workspace_id, dataset_id)
        ds.retention = msgspec.to_builtins(policy)
        ds.updated_at = utcnow()
        details = msgspec.to_builtins(policy)
        await audit.record(
            db, actor, audit.Entry.on("dataset.retention.set", ds.id, workspace_id, details=details)
        )
    return ds


#: Maintenance actions that delete data, and so wait for a lifted hold.
DESTRUCTIVE = frozenset({"expire_snapshots", "remove_orphan_files"})


def check_maintenance(
    ds: Dataset, action: str, *, older_than_days: float | None = None, keep_last: int | None = None
) -> None:
    """Refuse a maintenance action the dataset's legal hold or retention policy forbids.

    ``optimize`` rewrites files without losing a snapshot and is allowed under a hold.
    """
    if action in DESTRUCTIVE and ds.legal_hold:
        raise Conflict(
            f"dataset {ds.name!r} is under legal hold ({ds.legal_hold_reason}): {action} is refused "
            "until an admin lifts the hold"
        )
    if action != "expire_snapshots" or not ds.retention:
        return
    policy = msgspec.convert(ds.retention, RetentionPolicy)
    if older_than_days is not None and older_than_days < policy.expire_older_than_days:
        raise ValidationFailed(
            f"expiring snapshots older than {older_than_days:g} days would remove snapshots younger than "
            f"the retention policy of {ds.name!r} allows ({policy.expire_older_than_days:g} days)",
            [{"field": "older_than_days", "message": "younger than the retention policy allows"}],
        )
    if keep_last is not None and keep_last < policy.keep_last:
        raise ValidationFailed(
            f"keeping {keep_last} snapshots is fewer than the retention policy of {ds.name!r} keeps "
            f"({policy.keep_last})",
            [{"field": "keep_last", "message": "fewer than the retention policy keeps"}],
        )


async def resolve_maintenance(
    db: AsyncSession, workspace_id: str, spec: MaintenanceSpec
) -> tuple[MaintenanceSpec, Identifier]:
    """The job's values with the dataset's policy filled in, and the table to act on.

    Raises what :func:`check_maintenance` raises; called when a job is saved and again
    when each run starts, so a hold set in between stops the run.
    """
    ds = await get(db, workspace_id, spec.dataset_id)
    if not ds.namespace or not ds.table_name:
        raise ValidationFailed(
            f"dataset {ds.name!r} was registered by location only: maintenance needs its namespace and table",
            [{"field": "definition.dataset_id", "message": "dataset has no catalog table"}],
        )
    if "." in ds.namespace:
        raise ValidationFailed(
            f"dataset {ds.name!r} is in a nested namespace, which a Trino schema cannot name",
            [{"field": "definition.dataset_id", "message": "nested namespace"}],
        )
    policy = msgspec.convert(ds.retention, RetentionPolicy) if ds.retention else RetentionPolicy()
    resolved = spec
    if spec.action == "expire_snapshots":
        resolved = msgspec.structs.replace(
            spec,
            older_than_days=policy.expire_older_than_days
            if spec.older_than_days is None
            else spec.older_than_days,
            keep_last=policy.keep_last if spec.keep_last is None else spec.keep_last,
        )
    elif spec.action == "remove_orphan_files" and spec.older_than_days is None:
        resolved = msgspec.structs.replace(spec, older_than_days=policy.orphan_older_than_days)
    check_maintenance(ds, spec.action, older_than_days=resolved.older_than_days, keep_last=resolved.keep_last)
    return resolved, Identifier(f"{ds.namespace}.{ds.table_name}")
