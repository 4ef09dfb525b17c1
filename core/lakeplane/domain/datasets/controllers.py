from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.datasets import services
from lakeplane.domain.datasets.schemas import (
    DatasetCreate,
    DatasetDetail,
    DatasetOut,
    DatasetUpdate,
    LegalHoldSet,
    RetentionPolicy,
)
from lakeplane.domain.etags import IfMatch, etag
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace


class DatasetController(Controller):
    path = "/api/v1/workspaces/{ws:str}/datasets"
    tags = ["datasets"]

    @get("/", operation_id="listDatasets", opt={"permission": "workspace:viewer"})
    async def list_datasets(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        paging: Paging,
        tag: str | None = None,
        owner: str | None = None,
        q: str | None = None,
    ) -> Page[DatasetOut]:
        rows = await services.search(
            db, workspace(request).id, tag=tag, owner=owner, q=q, cursor=paging.cursor, limit=paging.limit
        )
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="registerDataset", opt={"permission": "workspace:editor"})
    async def register_dataset(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, data: DatasetCreate
    ) -> DatasetOut:
        ds = await services.create(db, lp, principal(request).actor(request), workspace(request).id, data)
        return services.to_out(ds)

    @get("/{dataset_id:str}", operation_id="getDataset", opt={"permission": "workspace:viewer"})
    async def get_dataset(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, dataset_id: str
    ) -> Response[DatasetDetail]:
        detail = await services.detail(db, lp, workspace(request).id, dataset_id)
        return Response(detail, headers={"ETag": services.tag_of(detail)})

    @patch("/{dataset_id:str}", operation_id="updateDataset", opt={"permission": "workspace:editor"})
    async def update_dataset(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        dataset_id: str,
        data: DatasetUpdate,
        if_match: IfMatch = None,
    ) -> Response[DatasetOut]:
        ds = await services.update(
            db, principal(request).actor(request), workspace(request).id, dataset_id, data, if_match
        )
        out = services.to_out(ds)
        return Response(out, headers={"ETag": etag(out)})

    @delete("/{dataset_id:str}", operation_id="unregisterDataset", opt={"permission": "workspace:editor"})
    async def unregister_dataset(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        dataset_id: str,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete(
            db, principal(request).actor(request), workspace(request).id, dataset_id, if_match
        )

    @put("/{dataset_id:str}/legal-hold", operation_id="setLegalHold", opt={"permission": "admin"})
    async def set_legal_hold(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, dataset_id: str, data: LegalHoldSet
    ) -> DatasetOut:
        ds = await services.set_legal_hold(
            db,
            principal(request).actor(request),
            await services.workspace_id(db, ws),
            dataset_id,
            data.reason,
        )
        return services.to_out(ds)

    @delete(
        "/{dataset_id:str}/legal-hold",
        operation_id="liftLegalHold",
        opt={"permission": "admin"},
        status_code=200,
    )
    async def lift_legal_hold(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, dataset_id: str
    ) -> DatasetOut:
        ds = await services.set_legal_hold(
            db, principal(request).actor(request), await services.workspace_id(db, ws), dataset_id, None
        )
        return services.to_out(ds)

    @put("/{dataset_id:str}/retention", operation_id="setRetention", opt={"permission": "workspace:admin"})
    async def set_retention(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        dataset_id: str,
        data: RetentionPolicy,
    ) -> DatasetOut:
        ds = await services.set_retention(
            db, principal(request).actor(request), workspace(request).id, dataset_id, data
        )
        return services.to_out(ds)
