from __future__ import annotations

from litestar import Controller, Response, delete, get, patch, post, put

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
from lakeplane.domain.etags import IfMatch
from lakeplane.web.context import Caller, WorkspaceContext
from lakeplane.web.responses import tagged


class DatasetController(Controller):
    path = "/api/v1/workspaces/{ws:str}/datasets"
    tags = ["datasets"]

    @get("/", operation_id="listDatasets", opt={"permission": "workspace:viewer"})
    async def list_datasets(
        self,
        ctx: WorkspaceContext,
        paging: Paging,
        tag: str | None = None,
        owner: str | None = None,
        q: str | None = None,
    ) -> Page[DatasetOut]:
        rows = await services.search(
            ctx.db, ctx.workspace_id, tag=tag, owner=owner, q=q, cursor=paging.cursor, limit=paging.limit
        )
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="registerDataset", opt={"permission": "workspace:editor"})
    async def register_dataset(self, ctx: WorkspaceContext, data: DatasetCreate) -> DatasetOut:
        return services.to_out(await services.create(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, data))

    @get("/{dataset_id:str}", operation_id="getDataset", opt={"permission": "workspace:viewer"})
    async def get_dataset(self, ctx: WorkspaceContext, dataset_id: str) -> Response[DatasetDetail]:
        detail = await services.detail(ctx.db, ctx.lp, ctx.workspace_id, dataset_id)
        return Response(detail, headers={"ETag": services.tag_of(detail)})

    @patch("/{dataset_id:str}", operation_id="updateDataset", opt={"permission": "workspace:editor"})
    async def update_dataset(
        self, ctx: WorkspaceContext, dataset_id: str, data: DatasetUpdate, if_match: IfMatch = None
    ) -> Response[DatasetOut]:
        ds = await services.update(ctx.db, ctx.actor, ctx.workspace_id, dataset_id, data, if_match)
        return tagged(services.to_out(ds))

    @delete("/{dataset_id:str}", operation_id="unregisterDataset", opt={"permission": "workspace:editor"})
    async def unregister_dataset(
        self, ctx: WorkspaceContext, dataset_id: str, if_match: IfMatch = None
    ) -> None:
        await services.delete(ctx.db, ctx.actor, ctx.workspace_id, dataset_id, if_match)

    @put("/{dataset_id:str}/legal-hold", operation_id="setLegalHold", opt={"permission": "admin"})
    async def set_legal_hold(
        self, caller: Caller, ws: str, dataset_id: str, data: LegalHoldSet
    ) -> DatasetOut:
        return await _legal_hold(caller, ws, dataset_id, data.reason)

    @delete(
        "/{dataset_id:str}/legal-hold",
        operation_id="liftLegalHold",
        opt={"permission": "admin"},
        status_code=200,
    )
    async def lift_legal_hold(self, caller: Caller, ws: str, dataset_id: str) -> DatasetOut:
        return await _legal_hold(caller, ws, dataset_id, None)

    @put("/{dataset_id:str}/retention", operation_id="setRetention", opt={"permission": "workspace:admin"})
    async def set_retention(
        self, ctx: WorkspaceContext, dataset_id: str, data: RetentionPolicy
    ) -> DatasetOut:
        ds = await services.set_retention(ctx.db, ctx.actor, ctx.workspace_id, dataset_id, data)
        return services.to_out(ds)


async def _legal_hold(caller: Caller, ws: str, dataset_id: str, reason: str | None) -> DatasetOut:
    """Set (``reason`` given) or lift a hold. These routes are for global admins, who need not
    belong to the workspace, so the guard looked none up: find it here."""
    workspace_id = await services.workspace_id(caller.db, ws)
    return services.to_out(
        await services.set_legal_hold(caller.db, caller.actor, workspace_id, dataset_id, reason)
    )
