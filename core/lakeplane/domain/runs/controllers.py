"""Runs: submit, list, get, stop, rerun, logs, result."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import HeaderParameter, QueryParameter

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.runs import services
from lakeplane.domain.runs.schemas import RerunRequest, ResultOut, RunLogOut, RunOut, RunSubmit
from lakeplane.web.context import WorkspaceContext


class RunController(Controller):
    path = "/api/v1/workspaces/{ws:str}"
    tags = ["runs"]

    @post("/jobs/{job_id:str}/runs", operation_id="submitRun", opt={"permission": "workspace:editor"})
    async def submit_run(
        self,
        ctx: WorkspaceContext,
        job_id: str,
        data: RunSubmit,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", required=False)
        ] = None,
    ) -> RunOut:
        run = await services.submit_run(
            ctx.db,
            ctx.lp,
            ctx.actor,
            ctx.workspace_id,
            job_id,
            data.parameters,
            idempotency_key=idempotency_key,
        )
        return services.to_out(run)

    @get("/runs", operation_id="listRuns", opt={"permission": "workspace:viewer"})
    async def list_runs(
        self,
        ctx: WorkspaceContext,
        paging: Paging,
        # ``state`` is a reserved Litestar kwarg (the app state): read the query parameter by name.
        state_filter: Annotated[str | None, QueryParameter(name="state", required=False)] = None,
        job_id: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
    ) -> Page[RunOut]:
        rows = await services.list_runs(
            ctx.db,
            ctx.workspace_id,
            state=state_filter,
            job_id=job_id,
            created_after=created_after,
            created_before=created_before,
            cursor=paging.cursor,
            limit=paging.limit,
        )
        return page(rows, paging.limit, services.to_out)

    @get("/runs/{run_id:str}", operation_id="getRun", opt={"permission": "workspace:viewer"})
    async def get_run(self, ctx: WorkspaceContext, run_id: str) -> RunOut:
        run = await services.get(ctx.db, ctx.workspace_id, run_id)
        return services.to_out(run, await services.transitions_of(ctx.db, run.id))

    @post(
        "/runs/{run_id:str}/stop",
        operation_id="stopRun",
        opt={"permission": "workspace:editor"},
        status_code=202,
    )
    async def stop_run(self, ctx: WorkspaceContext, run_id: str) -> RunOut:
        return services.to_out(await services.stop(ctx.db, ctx.actor, ctx.workspace_id, run_id))

    @post("/runs/{run_id:str}/rerun", operation_id="rerunRun", opt={"permission": "workspace:editor"})
    async def rerun(self, ctx: WorkspaceContext, run_id: str, data: RerunRequest | None = None) -> RunOut:
        parameters = data.parameters if data else {}
        return services.to_out(
            await services.rerun(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, run_id, parameters)
        )

    @get("/runs/{run_id:str}/logs", operation_id="getRunLogs", opt={"permission": "workspace:viewer"})
    async def get_logs(self, ctx: WorkspaceContext, run_id: str, offset: int = 0) -> RunLogOut:
        return await services.logs(ctx.db, ctx.lp, ctx.workspace_id, run_id, max(offset, 0))

    @get("/runs/{run_id:str}/result", operation_id="getRunResult", opt={"permission": "workspace:viewer"})
    async def get_result(self, ctx: WorkspaceContext, run_id: str) -> ResultOut:
        return await services.result(ctx.db, ctx.workspace_id, run_id)
