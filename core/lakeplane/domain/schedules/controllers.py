from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.etags import IfMatch, etag
from lakeplane.domain.schedules import services
from lakeplane.domain.schedules.schemas import FirePreview, ScheduleCreate, ScheduleOut, ScheduleUpdate
from lakeplane.web.context import WorkspaceContext
from lakeplane.web.responses import tagged


class ScheduleController(Controller):
    path = "/api/v1/workspaces/{ws:str}/schedules"
    tags = ["schedules"]

    @get("/", operation_id="listSchedules", opt={"permission": "workspace:viewer"})
    async def list_schedules(
        self, ctx: WorkspaceContext, paging: Paging, job_id: str | None = None
    ) -> Page[ScheduleOut]:
        rows = await services.list_schedules(ctx.db, ctx.workspace_id, job_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createSchedule", opt={"permission": "workspace:editor"})
    async def create_schedule(self, ctx: WorkspaceContext, data: ScheduleCreate) -> ScheduleOut:
        return services.to_out(await services.create(ctx.db, ctx.actor, ctx.workspace_id, data))

    @get("/preview", operation_id="previewSchedule", opt={"permission": "workspace:viewer"})
    async def preview(self, ws: str, cron: str, timezone: str = "UTC", count: int = 5) -> list[FirePreview]:
        return services.preview(cron, timezone, max(1, min(count, 50)))

    @get("/{schedule_id:str}", operation_id="getSchedule", opt={"permission": "workspace:viewer"})
    async def get_schedule(self, ctx: WorkspaceContext, schedule_id: str) -> Response[dict[str, Any]]:
        found = await services.get(ctx.db, ctx.workspace_id, schedule_id)
        upcoming = services.preview(found.cron, found.timezone, 5) if not found.paused else []
        out = services.to_out(found)
        return Response({"schedule": out, "upcoming": upcoming}, headers={"ETag": etag(out)})

    @patch("/{schedule_id:str}", operation_id="updateSchedule", opt={"permission": "workspace:editor"})
    async def update_schedule(
        self, ctx: WorkspaceContext, schedule_id: str, data: ScheduleUpdate, if_match: IfMatch = None
    ) -> Response[ScheduleOut]:
        updated = await services.update(ctx.db, ctx.actor, ctx.workspace_id, schedule_id, data, if_match)
        return tagged(services.to_out(updated))

    @post(
        "/{schedule_id:str}/pause",
        operation_id="pauseSchedule",
        status_code=200,
        opt={"permission": "workspace:editor"},
    )
    async def pause(self, ctx: WorkspaceContext, schedule_id: str) -> ScheduleOut:
        return services.to_out(
            await services.set_paused(ctx.db, ctx.actor, ctx.workspace_id, schedule_id, True)
        )

    @post(
        "/{schedule_id:str}/resume",
        operation_id="resumeSchedule",
        status_code=200,
        opt={"permission": "workspace:editor"},
    )
    async def resume(self, ctx: WorkspaceContext, schedule_id: str) -> ScheduleOut:
        return services.to_out(
            await services.set_paused(ctx.db, ctx.actor, ctx.workspace_id, schedule_id, False)
        )

    @delete("/{schedule_id:str}", operation_id="deleteSchedule", opt={"permission": "workspace:editor"})
    async def delete_schedule(
        self, ctx: WorkspaceContext, schedule_id: str, if_match: IfMatch = None
    ) -> None:
        await services.delete(ctx.db, ctx.actor, ctx.workspace_id, schedule_id, if_match)
