from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.connections import services
from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionOut, ConnectionUpdate, TestResult
from lakeplane.domain.etags import IfMatch, etag
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace


class ConnectionController(Controller):
    path = "/api/v1/workspaces/{ws:str}/connections"
    tags = ["connections"]

    @get("/", operation_id="listConnections", opt={"permission": "workspace:viewer"})
    async def list_connections(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        paging: Paging,
        kind: Annotated[str | None, QueryParameter(name="role")] = None,
        plugin: str | None = None,
    ) -> Page[ConnectionOut]:
        rows = await services.search(
            db, workspace(request).id, kind=kind, plugin=plugin, cursor=paging.cursor, limit=paging.limit
        )
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createConnection", opt={"permission": "workspace:editor"})
    async def create_connection(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, data: ConnectionCreate
    ) -> ConnectionOut:
        conn = await services.create(db, lp, principal(request).actor(request), workspace(request).id, data)
        return services.to_out(conn)

    @get("/{conn_id:str}", operation_id="getConnection", opt={"permission": "workspace:viewer"})
    async def get_connection(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, conn_id: str
    ) -> Response[ConnectionOut]:
        out = services.to_out(await services.get(db, workspace(request).id, conn_id))
        return Response(out, headers={"ETag": etag(out)})

    @patch("/{conn_id:str}", operation_id="updateConnection", opt={"permission": "workspace:editor"})
    async def update_connection(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        conn_id: str,
        data: ConnectionUpdate,
        if_match: IfMatch = None,
    ) -> Response[ConnectionOut]:
        conn = await services.update(
            db, lp, principal(request).actor(request), workspace(request).id, conn_id, data, if_match
        )
        out = services.to_out(conn)
        return Response(out, headers={"ETag": etag(out)})

    @delete("/{conn_id:str}", operation_id="deleteConnection", opt={"permission": "workspace:editor"})
    async def delete_connection(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        conn_id: str,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete(
            db, lp, principal(request).actor(request), workspace(request).id, conn_id, if_match
        )

    @post(
        "/{conn_id:str}/test",
        operation_id="testConnection",
        status_code=200,
        opt={"permission": "workspace:editor"},
    )
    async def test_connection(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, conn_id: str
    ) -> TestResult:
        return await services.test(db, lp, principal(request).actor(request), workspace(request).id, conn_id)
