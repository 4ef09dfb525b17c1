from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.catalog import services
from lakeplane.runtime import Services
from lakeplane.web.guards import workspace


class CatalogController(Controller):
    path = "/api/v1/workspaces/{ws:str}/connections/{conn_id:str}/catalog"
    tags = ["catalog"]

    @get("/namespaces", operation_id="listNamespaces", opt={"permission": "workspace:viewer"})
    async def list_namespaces(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        conn_id: str,
        parent: str | None = None,
    ) -> dict[str, list[str]]:
        return {"items": await services.namespaces(db, lp, workspace(request).id, conn_id, parent)}

    @get(
        "/namespaces/{namespace:str}/tables",
        operation_id="listTables",
        opt={"permission": "workspace:viewer"},
    )
    async def list_tables(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        conn_id: str,
        namespace: str,
    ) -> dict[str, list[str]]:
        return {"items": await services.tables(db, lp, workspace(request).id, conn_id, namespace)}

    @get(
        "/namespaces/{namespace:str}/tables/{table:str}",
        operation_id="getTable",
        opt={"permission": "workspace:viewer"},
    )
    async def get_table(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        conn_id: str,
        namespace: str,
        table: str,
    ) -> dict[str, Any]:
        return await services.table(db, lp, workspace(request).id, conn_id, namespace, table)
