"""Jobs and job versions."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page, Paging, page
from lakeplane.domain.etags import IfMatch, etag
from lakeplane.domain.jobs import services
from lakeplane.domain.jobs.schemas import JobCreate, JobOut, JobUpdate, JobVersionOut
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace


class JobController(Controller):
    path = "/api/v1/workspaces/{ws:str}/jobs"
    tags = ["jobs"]

    @get("/", operation_id="listJobs", opt={"permission": "workspace:viewer"})
    async def list_jobs(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        paging: Paging,
        include_archived: bool = False,
    ) -> Page[JobOut]:
        rows = await services.list_jobs(
            db, workspace(request).id, paging.cursor, paging.limit, include_archived
        )
        return page(rows, paging.limit, services.to_out)

    @post("/", operation_id="createJob", opt={"permission": "workspace:editor"})
    async def create_job(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, data: JobCreate
    ) -> JobOut:
        job, version = await services.create(
            db, lp, principal(request).actor(request), workspace(request).id, data
        )
        return services.to_out(job, version)

    @get("/{job_id:str}", operation_id="getJob", opt={"permission": "workspace:viewer"})
    async def get_job(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, job_id: str
    ) -> Response[JobOut]:
        job = await services.get(db, workspace(request).id, job_id)
        out = services.to_out(job, await services.get_version(db, job.id, job.current_version))
        return Response(out, headers={"ETag": etag(services.to_out(job))})

    @patch("/{job_id:str}", operation_id="updateJob", opt={"permission": "workspace:editor"})
    async def update_job(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        job_id: str,
        data: JobUpdate,
        if_match: IfMatch = None,
    ) -> Response[JobOut]:
        job, version = await services.update(
            db, lp, principal(request).actor(request), workspace(request).id, job_id, data, if_match
        )
        return Response(services.to_out(job, version), headers={"ETag": etag(services.to_out(job))})

    @get("/{job_id:str}/versions", operation_id="listJobVersions", opt={"permission": "workspace:viewer"})
    async def list_versions(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        job_id: str,
        paging: Paging,
    ) -> Page[JobVersionOut]:
        rows = await services.list_versions(db, workspace(request).id, job_id, paging.cursor, paging.limit)
        return page(rows, paging.limit, services.version_out)

    @get(
        "/{job_id:str}/versions/{version:int}",
        operation_id="getJobVersion",
        opt={"permission": "workspace:viewer"},
    )
    async def get_version(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, job_id: str, version: int
    ) -> JobVersionOut:
        job = await services.get(db, workspace(request).id, job_id)
        return services.version_out(await services.get_version(db, job.id, version))
