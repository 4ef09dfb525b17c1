from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.workspaces import services
from lakeplane.domain.workspaces.schemas import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from lakeplane.web.guards import principal, workspace


class WorkspaceController(Controller):
    path = "/api/v1/workspaces"
    tags = ["workspaces"]

    @get("/", operation_id="listWorkspaces", opt={"permission": "authenticated"})
    async def list_workspaces(
        self, request: Request[Any, Any, Any], db: AsyncSession, paging: Paging
    ) -> Page[WorkspaceOut]:
        who = principal(request)
        rows = await services.list_for(db, who.user_id, who.is_admin, paging.cursor, paging.limit)
        return page(rows, paging.limit, lambda r: services.to_out(*r), id_of=lambda r: r[0].id)

    @post("/", operation_id="createWorkspace", opt={"permission": "admin"})
    async def create_workspace(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: WorkspaceCreate
    ) -> WorkspaceOut:
        ws = await services.create(db, principal(request).actor(request), data)
        return services.to_out(ws, "admin")

    @get("/{ws:str}", operation_id="getWorkspace", opt={"permission": "workspace:viewer"})
    async def get_workspace(self, request: Request[Any, Any, Any], ws: str) -> WorkspaceOut:
        return services.to_out(workspace(request), request.state.role)

    @patch("/{ws:str}", operation_id="updateWorkspace", opt={"permission": "workspace:admin"})
    async def update_workspace(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, data: WorkspaceUpdate
    ) -> WorkspaceOut:
        updated = await services.update(db, principal(request).actor(request), workspace(request), data)
        return services.to_out(updated, request.state.role)
