from __future__ import annotations

from typing import Any

from litestar import Controller, get

from lakeplane.domain.catalog import services
from lakeplane.web.context import WorkspaceContext


class CatalogController(Controller):
    path = "/api/v1/workspaces/{ws:str}/connections/{conn_id:str}/catalog"
    tags = ["catalog"]

    @get("/namespaces", operation_id="listNamespaces", opt={"permission": "workspace:viewer"})
    async def list_namespaces(
        self, ctx: WorkspaceContext, conn_id: str, parent: str | None = None
    ) -> dict[str, list[str]]:
        return {"items": await services.namespaces(ctx.db, ctx.lp, ctx.workspace_id, conn_id, parent)}

    @get(
        "/namespaces/{namespace:str}/tables",
        operation_id="listTables",
        opt={"permission": "workspace:viewer"},
    )
    async def list_tables(self, ctx: WorkspaceContext, conn_id: str, namespace: str) -> dict[str, list[str]]:
        return {"items": await services.tables(ctx.db, ctx.lp, ctx.workspace_id, conn_id, namespace)}

    @get(
        "/namespaces/{namespace:str}/tables/{table:str}",
        operation_id="getTable",
        opt={"permission": "workspace:viewer"},
    )
    async def get_table(
        self, ctx: WorkspaceContext, conn_id: str, namespace: str, table: str
    ) -> dict[str, Any]:
        return await services.table(ctx.db, ctx.lp, ctx.workspace_id, conn_id, namespace, table)
