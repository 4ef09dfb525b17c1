"""Jobs and job versions."""

from __future__ import annotations

from litestar import Controller, Response, get, patch, post

from lakeplane.db.models import Job, JobVersion
from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.etags import IfMatch, etag
from lakeplane.domain.jobs import services
from lakeplane.domain.jobs.schemas import JobCreate, JobOut, JobUpdate, JobVersionOut
from lakeplane.web.context import WorkspaceContext


class JobController(Controller):
    path = "/api/v1/workspaces/{ws:str}/jobs"
    tags = ["jobs"]

    @get("/", operation_id="listJobs", opt={"permission": "workspace:viewer"})
    async def list_jobs(
        self, ctx: WorkspaceContext, paging: Paging, include_archived: bool = False
    ) -> Page[JobOut]:
        rows = await services.list_jobs(
            ctx.db, ctx.workspace_id, paging.cursor, paging.limit, include_archived
        )
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createJob", opt={"permission": "workspace:editor"})
    async def create_job(self, ctx: WorkspaceContext, data: JobCreate) -> JobOut:
        job, version = await services.create(ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, data)
        return services.to_out(job, version)

    @get("/{job_id:str}", operation_id="getJob", opt={"permission": "workspace:viewer"})
    async def get_job(self, ctx: WorkspaceContext, job_id: str) -> Response[JobOut]:
        job = await services.get(ctx.db, ctx.workspace_id, job_id)
        return _tagged(job, await services.get_version(ctx.db, job.id, job.current_version))

    @patch("/{job_id:str}", operation_id="updateJob", opt={"permission": "workspace:editor"})
    async def update_job(
        self, ctx: WorkspaceContext, job_id: str, data: JobUpdate, if_match: IfMatch = None
    ) -> Response[JobOut]:
        job, version = await services.update(
            ctx.db, ctx.lp, ctx.actor, ctx.workspace_id, job_id, data, if_match
        )
        return _tagged(job, version)

    @get("/{job_id:str}/versions", operation_id="listJobVersions", opt={"permission": "workspace:viewer"})
    async def list_versions(self, ctx: WorkspaceContext, job_id: str, paging: Paging) -> Page[JobVersionOut]:
        rows = await services.list_versions(ctx.db, ctx.workspace_id, job_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.version_out)

    @get(
        "/{job_id:str}/versions/{version:int}",
        operation_id="getJobVersion",
        opt={"permission": "workspace:viewer"},
    )
    async def get_version(self, ctx: WorkspaceContext, job_id: str, version: int) -> JobVersionOut:
        job = await services.get(ctx.db, ctx.workspace_id, job_id)
        return services.version_out(await services.get_version(ctx.db, job.id, version))


def _tagged(job: Job, version: JobVersion) -> Response[JobOut]:
    """The job with its current version; the ETag is the job's alone, without the version."""
    return Response(services.to_out(job, version), headers={"ETag": etag(services.to_out(job))})
