from __future__ import annotations

from litestar import Controller, get, patch, post

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.workspaces import services
from lakeplane.domain.workspaces.schemas import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from lakeplane.web.context import Caller, WorkspaceContext


class WorkspaceController(Controller):
    path = "/api/v1/workspaces"
    tags = ["workspaces"]

    @get("/", operation_id="listWorkspaces", opt={"permission": "authenticated"})
    async def list_workspaces(self, caller: Caller, paging: Paging) -> Page[WorkspaceOut]:
        who = caller.principal
        rows = await services.list_for(caller.db, who.user_id, who.is_admin, paging.cursor, paging.limit)
        return page(rows, paging.limit, lambda r: services.to_out(*r), id_of=lambda r: r[0].id)

    @post("/", operation_id="createWorkspace", opt={"permission": "admin"})
    async def create_workspace(self, caller: Caller, data: WorkspaceCreate) -> WorkspaceOut:
        return services.to_out(await services.create(caller.db, caller.actor, data), "admin")

    @get("/{ws:str}", operation_id="getWorkspace", opt={"permission": "workspace:viewer"})
    async def get_workspace(self, ctx: WorkspaceContext) -> WorkspaceOut:
        return services.to_out(ctx.workspace, ctx.role)

    @patch("/{ws:str}", operation_id="updateWorkspace", opt={"permission": "workspace:admin"})
    async def update_workspace(self, ctx: WorkspaceContext, data: WorkspaceUpdate) -> WorkspaceOut:
        return services.to_out(await services.update(ctx.db, ctx.actor, ctx.workspace, data), ctx.role)
