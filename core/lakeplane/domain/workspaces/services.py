"""Workspaces: the unit of ownership for connections, datasets, jobs and runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import RoleBinding, Workspace
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.workspaces.schemas import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from lakeplane.ids import new_id


def to_out(ws: Workspace | Row[Any], role: str | None = None) -> WorkspaceOut:
    return resources.to_struct(WorkspaceOut, ws, role=role)


async def create(db: AsyncSession, actor: audit.Actor, data: WorkspaceCreate) -> Workspace:
    ws = Workspace(id=new_id("ws"), slug=data.slug, name=data.name, description=data.description)
    await resources.insert(
        db,
        actor,
        audit.Entry.on("workspace.create", ws.id, ws.id, details={"slug": ws.slug, "name": ws.name}),
        ws,
        conflict=f"a workspace with slug {data.slug!r} already exists",
    )
    return ws


async def update(db: AsyncSession, actor: audit.Actor, ws: Workspace, data: WorkspaceUpdate) -> Workspace:
    async with db.begin():
        ws = await db.merge(ws)
        changed = resources.apply(ws, **msgspec.structs.asdict(data))
        entry = audit.Entry.on("workspace.update", ws.id, ws.id, details={"changed": sorted(changed)})
        await audit.record(db, actor, entry)
    return ws


async def list_for(
    db: AsyncSession, user_id: str, is_admin: bool, cursor: str | None, limit: int
) -> Sequence[tuple[Row[Any], str | None]]:
    if is_admin:
        rows = await fetch_page(db, select_rows(Workspace), Workspace.id, cursor, limit)
        return [(ws, "admin") for ws in rows]
    member_query = select_rows(Workspace, RoleBinding.role.label("member_role")).join(
        RoleBinding, (RoleBinding.workspace_id == Workspace.id) & (RoleBinding.user_id == user_id)
    )
    rows = await fetch_page(db, member_query, Workspace.id, cursor, limit)
    return [(ws, ws.member_role) for ws in rows]
