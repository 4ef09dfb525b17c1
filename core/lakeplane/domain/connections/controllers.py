from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import QueryParameter

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.connections import services
from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionOut, ConnectionUpdate, TestResult
from lakeplane.domain.etags import IfMatch
from lakeplane.web.context import WorkspaceContext
from lakeplane.web.responses import tagged


class ConnectionController(Controller):
    path = "/api/v1/workspaces/{ws:str}/connections"
    tags = ["connections"]

    @get("/", operation_id="listConnections", opt={"permission": "workspace:viewer"})
    async def list_connections(
        self,
        ctx: WorkspaceContext,
        paging: Paging,
        kind: Annotated[str | None, QueryParameter(name="role")] = None,
        plugin: str | None = None,
    ) -> Page[ConnectionOut]:
        rows = await services.search(
            ctx.db, ctx.workspace_id, kind=kind, plugin=plugin, cursor=paging.cursor, limit=paging.limit
        )
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createConnection", opt={"permission": "workspace:editor"})
    async def create_connection(self, ctx: WorkspaceContext, data: ConnectionCreate) -> ConnectionOut:
        return services.to_out(await services.create(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, data))

    @get("/{conn_id:str}", operation_id="getConnection", opt={"permission": "workspace:viewer"})
    async def get_connection(self, ctx: WorkspaceContext, conn_id: str) -> Response[ConnectionOut]:
        return tagged(services.to_out(await services.get(ctx.db, ctx.workspace_id, conn_id)))

    @patch("/{conn_id:str}", operation_id="updateConnection", opt={"permission": "workspace:editor"})
    async def update_connection(
        self, ctx: WorkspaceContext, conn_id: str, data: ConnectionUpdate, if_match: IfMatch = None
    ) -> Response[ConnectionOut]:
        conn = await services.update(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, conn_id, data, if_match)
        return tagged(services.to_out(conn))

    @delete("/{conn_id:str}", operation_id="deleteConnection", opt={"permission": "workspace:editor"})
    async def delete_connection(self, ctx: WorkspaceContext, conn_id: str, if_match: IfMatch = None) -> None:
        await services.delete(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, conn_id, if_match)

    @post(
        "/{conn_id:str}/test",
        operation_id="testConnection",
        status_code=200,
        opt={"permission": "workspace:editor"},
    )
    async def test_connection(self, ctx: WorkspaceContext, conn_id: str) -> TestResult:
        return await services.test(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, conn_id)
