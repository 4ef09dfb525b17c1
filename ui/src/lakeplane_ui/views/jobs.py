"""Jobs: list, create, edit (each save is a new version), version history with a diff,
parameters, run now, and run durations over time."""

from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from lakeplane.db.pagination import Paging
from lakeplane.db.pagination import page as page_of
from lakeplane.domain.connections import services as connections
from lakeplane.domain.etags import etag
from lakeplane.domain.jobs import services
from lakeplane.domain.runs import services as runs
from lakeplane.errors import NotFound, PreconditionFailed, ValidationFailed
from lakeplane_ui import charts, forms
from lakeplane_ui.filters import STATE_TONES
from lakeplane_ui.web import FRESH, PAGE_SIZE, Outcome, View, see_other

CHART_RUNS = 50


def version_text(version: Any) -> str:
    """A version as stable, diffable text."""
    shown = {
        "definition": version.definition,
        "parameters": version.parameters,
        "connection_id": version.connection_id,
        "queue": version.queue,
        "max_attempts": version.max_attempts,
        "retry_backoff_s": version.retry_backoff_s,
        "timeout_s": version.timeout_s,
        "max_concurrency": version.max_concurrency,
    }
    text = json.dumps(shown, indent=2, sort_keys=True, default=str)
    sql = version.definition.get("sql") if isinstance(version.definition, dict) else None
    return text + (f"\n--- sql ---\n{sql}\n" if isinstance(sql, str) else "")


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    out = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""):
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else ""
        )
        out.append((kind, line))
    return out


def duration_points(ws_slug: str, rows: list[Any]) -> list[charts.Point]:
    points = []
    for run in reversed(rows):
        if run.started_at and run.finished_at:
            points.append(
                charts.Point(
                    label=run.created_at.strftime("%m-%d %H:%M"),
                    value=round((run.finished_at - run.started_at).total_seconds(), 3),
                    tone=STATE_TONES.get(run.state, "muted"),
                    href=f"/ui/w/{ws_slug}/runs/{run.id}",
                )
            )
    return points


class JobPages(Controller):
    path = "/w/{ws:str}/jobs"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(self, view: View, paging: Paging, archived: bool = False) -> Template:
        rows = await services.list_jobs(
            view.db, view.workspace.id, paging.cursor, paging.limit, include_archived=archived
        )
        return await view.paged(
            "jobs.html",
            page_of(rows, paging.limit, services.to_out),
            items="jobs",
            types=forms.JobTypes.of(view.lp).known,
            archived=archived,
        )

    async def _editor(
        self,
        view: View,
        shown: Outcome = FRESH,
        *,
        job: Any = None,
        job_type: str = "",
        params: list[dict[str, Any]] | None = None,
    ) -> Template:
        fields: list[forms.FormField] = []
        if job_type:
            try:
                fields = forms.JobForm.fields(view.lp, job_type)
            except ValidationFailed as exc:
                shown = dataclasses.replace(shown, errors={**shown.errors, "type": exc.detail})
        engines = await connections.search(view.db, view.workspace.id, kind="engine", limit=200)
        types = forms.JobTypes.of(view.lp)
        return await view.page(
            "job_edit.html",
            shown,
            job=job,
            job_type=job_type,
            types=types.enabled,
            all_types=types.known,
            fields=fields,
            engines=[connections.to_out(c) for c in engines],
            parameter_types=forms.PARAMETER_TYPES,
            param_rows=forms.JobForm.parameter_rows(params or []),
        )

    async def _refused(
        self,
        view: View,
        form: dict[str, Any],
        *,
        job: Any = None,
        job_type: str,
        errors: dict[str, str] | None = None,
        exc: forms.JobSaveError | None = None,
    ) -> Template:
        """The editor again, status 422, with the form as sent and either ``errors``
        (checked here) or those of ``exc`` (raised while saving)."""
        message = forms.FIX_FIELDS
        if exc is not None:
            errors, message = forms.JobForm.save_errors(exc)
        return await self._editor(
            view,
            Outcome(form, errors or {}, message, 422),
            job=job,
            job_type=job_type,
            params=forms.JobForm.rows_as_sent(form),
        )

    @get("/new", opt={"permission": "workspace:editor"})
    async def new_page(self, view: View, type: str = "") -> Template:
        known = forms.JobTypes.of(view.lp).known
        return await self._editor(view, job_type=type if type in known else "")

    @post("/new", opt={"permission": "workspace:editor"})
    async def create(self, view: View) -> Template | Redirect:
        form = await view.form()
        job_type = str(form.get("type", ""))
        if job_type not in forms.JobTypes.of(view.lp).known:
            return await self._editor(view, Outcome(form, {"type": "choose a job type"}, status=422))
        posted = forms.JobForm.read(form, job_type, forms.JobForm.fields(view.lp, job_type), new=True)
        if posted.errors:
            return await self._refused(view, form, job_type=job_type, errors=posted.errors)
        try:
            job, _ = await services.create(view.db, view.lp, view.actor(), view.workspace.id, posted.create())
        except forms.JobForm.SAVE_ERRORS as exc:
            return await self._refused(view, form, job_type=job_type, exc=exc)
        return see_other(f"/ui/w/{view.workspace.slug}/jobs/{job.id}?created=1")

    @get("/{job_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(self, view: View, job_id: str) -> Template:
        return await self._job_page(view, job_id)

    async def _job_page(self, view: View, job_id: str, shown: Outcome = FRESH) -> Template:
        """The job, its current version and recent runs, with the run-now form as ``shown``."""
        db, ws_row = view.db, view.workspace
        job = await services.get(db, ws_row.id, job_id)
        version = await services.get_version(db, job.id, job.current_version)
        recent = list(await runs.list_runs(db, ws_row.id, job_id=job.id, limit=CHART_RUNS))
        conn = None
        if version.connection_id:
            try:
                conn = connections.to_out(await connections.get(db, ws_row.id, version.connection_id))
            except NotFound:
                conn = None
        points = duration_points(ws_row.slug, recent)
        return await view.page(
            "job.html",
            shown,
            job=services.to_out(job, version),
            version=services.version_out(version),
            types=forms.JobTypes.of(view.lp).known,
            runs=[runs.to_out(r) for r in recent[:20]],
            conn=conn,
            chart=charts.line_chart(points, f"Run durations of {job.name}, oldest first", "seconds"),
            points=points,
        )

    @get("/{job_id:str}/edit", opt={"permission": "workspace:editor"})
    async def edit_page(self, view: View, job_id: str) -> Template:
        job = await services.get(view.db, view.workspace.id, job_id)
        version = await services.get_version(view.db, job.id, job.current_version)
        form = forms.JobForm.of_version(job, version, etag(services.to_out(job)))
        params = [
            {**p, "default": "" if p.get("default") is None else p["default"]} for p in version.parameters
        ]
        return await self._editor(
            view, Outcome(form), job=services.to_out(job, version), job_type=job.type, params=params
        )

    @post("/{job_id:str}/edit", opt={"permission": "workspace:editor"})
    async def update(self, view: View, job_id: str) -> Template | Redirect:
        form = await view.form()
        ws_row = view.workspace
        job = await services.get(view.db, ws_row.id, job_id)
        version = await services.get_version(view.db, job.id, job.current_version)
        job_out = services.to_out(job, version)
        await view.db.rollback()
        posted = forms.JobForm.read(
            form, job_out.type, forms.JobForm.fields(view.lp, job_out.type), new=False
        )
        if posted.errors:
            return await self._refused(view, form, job=job_out, job_type=job_out.type, errors=posted.errors)
        try:
            await services.update(
                view.db, view.lp, view.actor(), ws_row.id, job_id, posted.update(), posted.if_match
            )
        except PreconditionFailed as exc:
            # The form keeps the stale tag: saving it again is refused until the editor is reloaded.
            return await self._editor(
                view,
                Outcome(form, message=exc.detail, status=412),
                job=job_out,
                job_type=job_out.type,
                params=forms.JobForm.rows_as_sent(form),
            )
        except forms.JobForm.SAVE_ERRORS as exc:
            return await self._refused(view, form, job=job_out, job_type=job_out.type, exc=exc)
        return see_other(f"/ui/w/{ws_row.slug}/jobs/{job_id}?saved=1")

    @get("/{job_id:str}/versions", opt={"permission": "workspace:viewer"})
    async def versions(
        self, view: View, job_id: str, a: int | None = None, b: int | None = None, cursor: str | None = None
    ) -> Template:
        db, ws_id = view.db, view.workspace.id
        job = await services.get(db, ws_id, job_id)
        found = page_of(
            await services.list_versions(db, ws_id, job_id, cursor, PAGE_SIZE),
            PAGE_SIZE,
            services.version_out,
        )
        new_no = b or job.current_version
        old_no = a or max(1, new_no - 1)
        diff: list[tuple[str, str]] = []
        if old_no != new_no:
            old = await services.get_version(db, job.id, old_no)
            new = await services.get_version(db, job.id, new_no)
            diff = diff_lines(version_text(old), version_text(new), f"version {old_no}", f"version {new_no}")
        return await view.paged(
            "job_versions.html",
            found,
            items="versions",
            job=services.to_out(job),
            a=old_no,
            b=new_no,
            diff=diff,
        )

    @post("/{job_id:str}/run", opt={"permission": "workspace:editor"})
    async def run_now(self, view: View, job_id: str) -> Template | Redirect:
        form = await view.form()
        ws_row = view.workspace
        given = {k[len("run.") :]: v for k, v in form.items() if k.startswith("run.") and v != ""}
        try:
            run = await runs.submit_run(view.db, view.lp, view.actor(), ws_row.id, job_id, given)
        except ValidationFailed as exc:
            await view.db.rollback()
            errors = {f"run.{k.removeprefix('parameters.')}": v for k, v in forms.field_errors(exc).items()}
            return await self._job_page(view, job_id, Outcome(form, errors, exc.detail, 422))
        return see_other(f"/ui/w/{ws_row.slug}/runs/{run.id}")


CONTROLLERS = [JobPages]
