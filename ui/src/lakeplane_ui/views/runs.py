"""Runs: list with filters, detail with state timeline, live log tail, result preview,
stop, rerun and the rerun/retry lineage."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from lakeplane.db.pagination import Paging
from lakeplane.db.pagination import page as page_of
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.runs import lifecycle, services
from lakeplane.errors import NotFound, ValidationFailed
from lakeplane_ui import forms
from lakeplane_ui.web import Outcome, View, see_other

STATES = lifecycle.STATES
LINEAGE_DEPTH = 20


class RunPages(Controller):
    path = "/w/{ws:str}/runs"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        view: View,
        paging: Paging,
        job_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Template:
        ws_id = view.workspace.id
        chosen = [s for s in view.request.query_params.getall("state", []) if s]
        errors: dict[str, str] = {}
        rows: list[Any] = []
        try:
            created_after = forms.moment(since, "since")
            created_before = forms.moment(until, "until", end=True)
            rows = list(
                await services.list_runs(
                    view.db,
                    ws_id,
                    state=",".join(chosen) or None,
                    job_id=job_id or None,
                    created_after=created_after,
                    created_before=created_before,
                    cursor=paging.cursor,
                    limit=paging.limit,
                )
            )
        except ValidationFailed as exc:
            errors = forms.field_errors(exc) or {"state": exc.detail}
        job_rows = await jobs.list_jobs(view.db, ws_id, None, 500, include_archived=True)
        # ``limit`` may be anything a URL says; the service refused a bad one and left no rows.
        found = page_of(rows, paging.limit, services.to_out)
        return await view.paged(
            "runs.html",
            found,
            items="runs",
            shown=Outcome(errors=errors, status=422 if errors else 200),
            job_names={j.id: j.name for j in job_rows},
            states=STATES,
            chosen=chosen,
            job_id=job_id or "",
            since=since or "",
            until=until or "",
            live=any(r.state in ("queued", "running") for r in found.items),
            show_job=True,
        )

    @get("/{run_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(self, view: View, run_id: str) -> Template:
        ws_id = view.workspace.id
        run = await services.get(view.db, ws_id, run_id)
        out = services.to_out(run, await services.transitions_of(view.db, run.id))
        job = await jobs.get(view.db, ws_id, run.job_id)
        lineage: list[Any] = []
        parent_id = run.rerun_of
        while parent_id and len(lineage) < LINEAGE_DEPTH:
            try:
                parent = await services.get(view.db, ws_id, parent_id)
            except NotFound:
                break
            lineage.append(services.to_out(parent))
            parent_id = parent.rerun_of
        result = None
        if run.result_preview or run.row_count is not None:
            result = await services.result(view.db, ws_id, run.id)
        log = await services.logs(view.db, view.lp, ws_id, run.id)
        attempts: dict[int, list[Any]] = {}
        for t in out.transitions or []:
            attempts.setdefault(t.attempt, []).append(t)
        return await view.page(
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
    async def log_tail(self, view: View, run_id: str, after: int = 0) -> dict[str, Any]:
        """New log lines after ``after`` for ui.js; ``finished`` once the run has ended."""
        log = await services.logs(view.db, view.lp, view.workspace.id, run_id, max(after, 0))
        finished = log.complete or log.source != "database"
        lines = log.text.splitlines() if log.source == "database" else []
        return {
            "lines": lines,
            "after": log.offset if log.source == "database" else after,
            "finished": finished,
        }

    @post("/{run_id:str}/stop", opt={"permission": "workspace:editor"})
    async def stop(self, view: View, run_id: str) -> Redirect:
        await view.form()
        await services.stop(view.db, view.actor(), view.workspace.id, run_id)
        return see_other(f"/ui/w/{view.workspace.slug}/runs/{run_id}?stopped=1")

    @post("/{run_id:str}/rerun", opt={"permission": "workspace:editor"})
    async def rerun(self, view: View, run_id: str) -> Redirect:
        await view.form()
        ws_row = view.workspace
        run = await services.rerun(view.db, view.lp, view.actor(), ws_row.id, run_id, {})
        return see_other(f"/ui/w/{ws_row.slug}/runs/{run.id}")


CONTROLLERS = [RunPages]
