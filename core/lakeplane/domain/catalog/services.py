"""Read-only views of a catalog connection: namespaces, tables, schema and snapshots."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets.services import live_summary
from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import Catalog, TableIdent
from lakeplane.runtime import Services

_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,199}")


def parse_namespace(dotted: str | None) -> tuple[str, ...]:
    if not dotted:
        return ()
    parts = tuple(dotted.split("."))
    if not all(_PART.fullmatch(p) for p in parts):
        raise ValidationFailed(
            f"invalid namespace {dotted!r}", [{"field": "namespace", "message": "invalid"}]
        )
    return parts


async def _catalog_call(db: AsyncSession, lp: Services, workspace_id: str, conn_id: str, call: Any) -> Any:
    conn = await connections.get(db, workspace_id, conn_id)
    await db.commit()  # end the read before the slow call; keeps loaded rows usable
    if conn.kind != "catalog":
        raise ValidationFailed(
            f"connection {conn.name!r} is not a catalog", [{"field": "conn_id", "message": "not a catalog"}]
        )
    async with connections.open_component(lp, conn) as catalog:
        assert isinstance(catalog, Catalog)
        return await call(catalog)


async def namespaces(
    db: AsyncSession, lp: Services, workspace_id: str, conn_id: str, parent: str | None
) -> list[str]:
    found = await _catalog_call(
        db, lp, workspace_id, conn_id, lambda c: c.list_namespaces(parse_namespace(parent))
    )
    return sorted(".".join(ns) for ns in found)


async def tables(
    db: AsyncSession, lp: Services, workspace_id: str, conn_id: str, namespace: str
) -> list[str]:
    found = await _catalog_call(
        db, lp, workspace_id, conn_id, lambda c: c.list_tables(parse_namespace(namespace))
    )
    return sorted(t.name for t in found)


async def table(
    db: AsyncSession, lp: Services, workspace_id: str, conn_id: str, namespace: str, name: str
) -> dict[str, Any]:
    if not _PART.fullmatch(name):
        raise ValidationFailed(f"invalid table name {name!r}", [{"field": "table", "message": "invalid"}])
    ident = TableIdent(parse_namespace(namespace), name)
    info = await _catalog_call(db, lp, workspace_id, conn_id, lambda c: c.load_table(ident))
    return {"namespace": namespace, "name": name, "properties": info.properties, **live_summary(info)}
