"""Runs: list with filters, detail with state timeline, live log tail, result preview,
stop, rerun and the rerun/retry lineage."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import page as page_of
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.runs import lifecycle, services
from lakeplane.errors import NotFound, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace
from lakeplane_ui import forms
from lakeplane_ui.web import PAGE_SIZE, page, pager, read_form, see_other

STATES = lifecycle.STATES
LINEAGE_DEPTH = 20


class RunPages(Controller):
    path = "/w/{ws:str}/runs"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        job_id: str | None = None,
        cursor: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = PAGE_SIZE,
    ) -> Template:
        ws_row = workspace(request)
        chosen = [s for s in request.query_params.getall("state", []) if s]
        errors: dict[str, str] = {}
        rows: list[Any] = []
        try:
            created_after = forms.moment(since, "since")
            created_before = forms.moment(until, "until", end=True)
            rows = list(
                await services.list_runs(
                    db,
                    ws_row.id,
                    state=",".join(chosen) or None,
                    job_id=job_id or None,
                    created_after=created_after,
                    created_before=created_before,
                    cursor=cursor,
                    limit=limit,
                )
            )
        except ValidationFailed as exc:
            errors = forms.field_errors(exc) or {"state": exc.detail}
        job_rows = await jobs.list_jobs(db, ws_row.id, None, 500, include_archived=True)
        # ``limit`` may be anything a URL says; the service refused a bad one and left no rows.
        found = page_of(rows, limit, services.to_out)
        live = any(r.state in ("queued", "running") for r in found.items)
        return await page(
            request,
            db,
            "runs.html",
            status=422 if errors else 200,
            runs=found.items,
            job_names={j.id: j.name for j in job_rows},
            states=STATES,
            chosen=chosen,
            job_id=job_id or "",
            since=since or "",
            until=until or "",
            errors=errors,
            live=live,
            show_job=True,
            **pager(request, found),
        )

    @get("/{run_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, run_id: str
    ) -> Template:
        ws_row = workspace(request)
        run = await services.get(db, ws_row.id, run_id)
        out = services.to_out(run, await services.transitions_of(db, run.id))
        job = await jobs.get(db, ws_row.id, run.job_id)
        lineage: list[Any] = []
        parent_id = run.rerun_of
        while parent_id and len(lineage) < LINEAGE_DEPTH:
            try:
                parent = await services.get(db, ws_row.id, parent_id)
            except NotFound:
                break
            lineage.append(services.to_out(parent))
            parent_id = parent.rerun_of
        result = None
        if run.result_preview or run.row_count is not None:
            result = await services.result(db, ws_row.id, run.id)
        log = await services.logs(db, lp, ws_row.id, run.id)
        attempts: dict[int, list[Any]] = {}
        for t in out.transitions or []:
            attempts.setdefault(t.attempt, []).append(t)
        return await page(
            request,
            db,
            "run.html",
            run=out,
            job=jobs.to_out(job),
            lineage=lineage,
            result=result,
            log=log,
            attempts=attempts,
            live=run.state in ("queued", "running"),
        )

    @get("/{run_id:str}/log", opt={"permission": "workspace:viewer"})
    async def log_tail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        run_id: str,
        after: int = 0,
    ) -> dict[str, Any]:
        """New log lines after ``after`` for ui.js; ``finished`` once the run has ended."""
        log = await services.logs(db, lp, workspace(request).id, run_id, max(after, 0))
        finished = log.complete or log.source != "database"
        lines = log.text.splitlines() if log.source == "database" else []
        return {
            "lines": lines,
            "after": log.offset if log.source == "database" else after,
            "finished": finished,
        }

    @post("/{run_id:str}/stop", opt={"permission": "workspace:editor"})
    async def stop(self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, run_id: str) -> Redirect:
        await read_form(request)
        await services.stop(db, principal(request).actor(request), workspace(request).id, run_id)
        return see_other(f"/ui/w/{workspace(request).slug}/runs/{run_id}?stopped=1")

    @post("/{run_id:str}/rerun", opt={"permission": "workspace:editor"})
    async def rerun(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, run_id: str
    ) -> Redirect:
        await read_form(request)
        ws_row = workspace(request)
        run = await services.rerun(db, lp, principal(request).actor(request), ws_row.id, run_id, {})
        return see_other(f"/ui/w/{ws_row.slug}/runs/{run.id}")


CONTROLLERS = [RunPages]
