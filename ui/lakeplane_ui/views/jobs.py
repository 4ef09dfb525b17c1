"""Jobs: list, create, edit (each save is a new version), version history with a diff,
parameters, run now, and run durations over time."""

from __future__ import annotations

import difflib
import json
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.connections import services as connections
from lakeplane.domain.etags import etag
from lakeplane.domain.jobs import services
from lakeplane.domain.jobs.schemas import JobCreate, JobUpdate
from lakeplane.domain.runs import services as runs
from lakeplane.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace
from lakeplane_ui import charts, forms
from lakeplane_ui.filters import STATE_TONES
from lakeplane_ui.web import field_errors, page, pager, read_form, see_other

JOB_TYPES = {"trino_sql": "Trino SQL", "spark_batch": "Spark batch", "noop": "No-op (testing)"}
PARAMETER_TYPES = ("string", "integer", "number", "boolean", "date", "identifier")
BLANK_PARAMETER_ROWS = 2
CHART_RUNS = 50


def available_types(lp: Services) -> dict[str, str]:
    return {t: label for t, label in JOB_TYPES.items() if lp.selection.engine_for_job_type(t) is not None}


def definition_fields(lp: Services, job_type: str) -> list[forms.FormField]:
    selected = services.engine_for(lp, job_type)
    return forms.struct_fields(services.engine_class(selected).spec_type(job_type))


def parse_parameters(form: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows ``param.N.name/type/default/required``; a row without a name is ignored."""
    declared, errors = [], {}
    indexes = sorted(
        {int(k.split(".")[1]) for k in form if k.startswith("param.") and k.split(".")[1].isdigit()}
    )
    for i in indexes:
        name = str(form.get(f"param.{i}.name", "")).strip()
        if not name:
            continue
        kind = str(form.get(f"param.{i}.type", "string"))
        default_text = str(form.get(f"param.{i}.default", ""))
        spec: dict[str, Any] = {
            "name": name,
            "type": kind,
            "required": bool(form.get(f"param.{i}.required")),
            "description": str(form.get(f"param.{i}.description", "")),
        }
        if default_text != "":
            try:
                spec["default"] = services.coerce(kind, default_text)
            except (ValueError, TypeError) as exc:
                errors[f"param.{i}.default"] = str(exc) or f"not a valid {kind}"
        declared.append(spec)
    return declared, errors


def parameter_rows(declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*declared, *({} for _ in range(BLANK_PARAMETER_ROWS))]


def rows_from_form(form: dict[str, Any]) -> list[dict[str, Any]]:
    indexes = sorted(
        {int(k.split(".")[1]) for k in form if k.startswith("param.") and k.split(".")[1].isdigit()}
    )
    return [
        {
            "name": form.get(f"param.{i}.name", ""),
            "type": form.get(f"param.{i}.type", "string"),
            "default": form.get(f"param.{i}.default", ""),
            "required": bool(form.get(f"param.{i}.required")),
            "description": form.get(f"param.{i}.description", ""),
        }
        for i in indexes
    ]


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


def common_fields(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, kind in (
        ("max_attempts", int),
        ("retry_backoff_s", float),
        ("timeout_s", float),
        ("max_concurrency", int),
    ):
        text = str(form.get(key, "")).strip()
        if text == "":
            values[key] = None
            continue
        try:
            values[key] = kind(text)
        except ValueError:
            errors[key] = "a number"
    values["queue"] = str(form.get("queue", "")).strip() or "default"
    values["connection_id"] = str(form.get("connection_id", "")).strip() or None
    return values, errors


def schema_errors(exc: msgspec.ValidationError) -> dict[str, str]:
    text = str(exc).replace("`", "")
    reason, _, where = text.partition(" - at $.")
    field = where.split("[")[0].split(".")[0] or "name"
    return {field: reason}


#: What saving a job can raise that the form shows next to its fields.
SaveError = msgspec.ValidationError | ValidationFailed | Conflict | NotFound
SAVE_ERRORS = (msgspec.ValidationError, ValidationFailed, Conflict, NotFound)
FIX_FIELDS = "Fix the fields marked below."


def save_errors(exc: SaveError) -> tuple[dict[str, str], str]:
    """The field errors and the message of a refused save."""
    if isinstance(exc, msgspec.ValidationError):
        return schema_errors(exc), FIX_FIELDS
    errors = forms.errors_by_field(field_errors(exc), "d") if isinstance(exc, ValidationFailed) else {}
    if isinstance(exc, Conflict):
        errors["name"] = exc.detail
    return errors, exc.detail


class JobPages(Controller):
    path = "/w/{ws:str}/jobs"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        cursor: str | None = None,
        archived: bool = False,
        limit: int = 50,
    ) -> Template:
        rows = await services.list_jobs(db, workspace(request).id, cursor, limit, include_archived=archived)
        next_cursor = rows[limit - 1].id if len(rows) > limit else None
        return await page(
            request,
            db,
            "jobs.html",
            jobs=[services.to_out(j) for j in rows[:limit]],
            types=JOB_TYPES,
            archived=archived,
            **pager(request, next_cursor),
        )

    async def _editor(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        *,
        job: Any = None,
        job_type: str = "",
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        status: int = 200,
        params: list[dict[str, Any]] | None = None,
    ) -> Template:
        errors = dict(errors or {})
        fields: list[forms.FormField] = []
        if job_type:
            try:
                fields = definition_fields(lp, job_type)
            except ValidationFailed as exc:
                errors["type"] = exc.detail
        engines = await connections.search(db, workspace(request).id, kind="engine", limit=200)
        return await page(
            request,
            db,
            "job_edit.html",
            status=status,
            job=job,
            job_type=job_type,
            types=available_types(lp),
            all_types=JOB_TYPES,
            fields=fields,
            form=form or {},
            errors=errors,
            message=message,
            engines=[connections.to_out(c) for c in engines],
            parameter_types=PARAMETER_TYPES,
            param_rows=parameter_rows(params or []),
        )

    async def _refused(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        form: dict[str, Any],
        *,
        job: Any = None,
        job_type: str,
        errors: dict[str, str] | None = None,
        exc: SaveError | None = None,
    ) -> Template:
        """The editor again, status 422, with the form as sent and either ``errors``
        (checked here) or those of ``exc`` (raised while saving)."""
        message = FIX_FIELDS
        if exc is not None:
            errors, message = save_errors(exc)
        return await self._editor(
            request,
            db,
            lp,
            job=job,
            job_type=job_type,
            form=form,
            errors=errors,
            message=message,
            status=422,
            params=rows_from_form(form),
        )

    @get("/new", opt={"permission": "workspace:editor"})
    async def new_page(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, type: str = ""
    ) -> Template:
        return await self._editor(request, db, lp, job_type=type if type in JOB_TYPES else "")

    @post("/new", opt={"permission": "workspace:editor"})
    async def create(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str
    ) -> Template | Redirect:
        form = await read_form(request)
        job_type = str(form.get("type", ""))
        if job_type not in JOB_TYPES:
            return await self._editor(
                request, db, lp, form=form, errors={"type": "choose a job type"}, status=422
            )
        fields = definition_fields(lp, job_type)
        definition, errors = forms.parse(fields, form, "d")
        declared, param_errors = parse_parameters(form)
        common, common_errors = common_fields(form)
        errors.update(param_errors)
        errors.update(common_errors)
        if not str(form.get("name", "")).strip():
            errors["name"] = "required"
        if errors:
            return await self._refused(request, db, lp, form, job_type=job_type, errors=errors)
        try:
            data = msgspec.convert(
                {
                    "name": str(form["name"]).strip(),
                    "type": job_type,
                    "definition": definition,
                    "parameters": declared,
                    **{k: v for k, v in common.items() if v is not None},
                },
                JobCreate,
            )
            job, _ = await services.create(
                db, lp, principal(request).actor(request), workspace(request).id, data
            )
        except SAVE_ERRORS as exc:
            return await self._refused(request, db, lp, form, job_type=job_type, exc=exc)
        return see_other(f"/ui/w/{workspace(request).slug}/jobs/{job.id}?created=1")

    @get("/{job_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, job_id: str
    ) -> Template:
        return await self._job_page(request, db, job_id)

    async def _job_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        job_id: str,
        *,
        errors: dict[str, str] | None = None,
        form: dict[str, Any] | None = None,
        run_message: str = "",
        status: int = 200,
    ) -> Template:
        ws_row = workspace(request)
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
        return await page(
            request,
            db,
            "job.html",
            job=services.to_out(job, version),
            version=services.version_out(version),
            types=JOB_TYPES,
            runs=[runs.to_out(r) for r in recent[:20]],
            conn=conn,
            chart=charts.line_chart(points, f"Run durations of {job.name}, oldest first", "seconds"),
            points=points,
            errors=errors or {},
            form=form or {},
            run_message=run_message,
            status=status,
        )

    @get("/{job_id:str}/edit", opt={"permission": "workspace:editor"})
    async def edit_page(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, job_id: str
    ) -> Template:
        job = await services.get(db, workspace(request).id, job_id)
        version = await services.get_version(db, job.id, job.current_version)
        form = {
            f"d.{k}": (
                v
                if isinstance(v, str)
                else json.dumps(v)
                if isinstance(v, dict | list)
                else str(v).lower()
                if isinstance(v, bool)
                else str(v)
            )
            for k, v in version.definition.items()
            if v is not None
        }
        form.update(
            {
                "name": job.name,
                "queue": version.queue,
                "max_attempts": str(version.max_attempts),
                "retry_backoff_s": f"{version.retry_backoff_s:g}",
                "timeout_s": f"{version.timeout_s:g}" if version.timeout_s else "",
                "max_concurrency": str(version.max_concurrency or ""),
                "connection_id": version.connection_id or "",
                "etag": etag(services.to_out(job)),
            }
        )
        params = [
            {**p, "default": "" if p.get("default") is None else p["default"]} for p in version.parameters
        ]
        return await self._editor(
            request, db, lp, job=services.to_out(job, version), job_type=job.type, form=form, params=params
        )

    @post("/{job_id:str}/edit", opt={"permission": "workspace:editor"})
    async def update(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, job_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        ws_row = workspace(request)
        job = await services.get(db, ws_row.id, job_id)
        version = await services.get_version(db, job.id, job.current_version)
        job_out = services.to_out(job, version)
        await db.rollback()
        fields = definition_fields(lp, job_out.type)
        definition, errors = forms.parse(fields, form, "d")
        declared, param_errors = parse_parameters(form)
        common, common_errors = common_fields(form)
        errors.update(param_errors)
        errors.update(common_errors)
        if errors:
            return await self._refused(
                request, db, lp, form, job=job_out, job_type=job_out.type, errors=errors
            )
        try:
            payload: dict[str, Any] = {
                "name": str(form.get("name", "")).strip() or None,
                "definition": definition,
                "parameters": declared,
                "queue": common["queue"],
                "connection_id": common["connection_id"],
                "timeout_s": common["timeout_s"],
                "max_concurrency": common["max_concurrency"],
            }
            if common["max_attempts"] is not None:
                payload["max_attempts"] = common["max_attempts"]
            if common["retry_backoff_s"] is not None:
                payload["retry_backoff_s"] = common["retry_backoff_s"]
            data = msgspec.convert(payload, JobUpdate)
            if_match = str(form.get("etag") or "") or None
            await services.update(
                db, lp, principal(request).actor(request), ws_row.id, job_id, data, if_match
            )
        except PreconditionFailed as exc:
            # The form keeps the stale tag: saving it again is refused until the editor is reloaded.
            return await self._editor(
                request,
                db,
                lp,
                job=job_out,
                job_type=job_out.type,
                form=form,
                message=exc.detail,
                status=412,
                params=rows_from_form(form),
            )
        except SAVE_ERRORS as exc:
            return await self._refused(request, db, lp, form, job=job_out, job_type=job_out.type, exc=exc)
        return see_other(f"/ui/w/{ws_row.slug}/jobs/{job_id}?saved=1")

    @get("/{job_id:str}/versions", opt={"permission": "workspace:viewer"})
    async def versions(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        job_id: str,
        a: int | None = None,
        b: int | None = None,
        cursor: str | None = None,
    ) -> Template:
        ws_row = workspace(request)
        job = await services.get(db, ws_row.id, job_id)
        rows = list(await services.list_versions(db, ws_row.id, job_id, cursor, 50))
        new_no = b or job.current_version
        old_no = a or max(1, new_no - 1)
        diff: list[tuple[str, str]] = []
        if old_no != new_no:
            old = await services.get_version(db, job.id, old_no)
            new = await services.get_version(db, job.id, new_no)
            diff = diff_lines(version_text(old), version_text(new), f"version {old_no}", f"version {new_no}")
        return await page(
            request,
            db,
            "job_versions.html",
            job=services.to_out(job),
            versions=[services.version_out(v) for v in rows[:50]],
            a=old_no,
            b=new_no,
            diff=diff,
            **pager(request, rows[49].id if len(rows) > 50 else None),
        )

    @post("/{job_id:str}/run", opt={"permission": "workspace:editor"})
    async def run_now(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, job_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        ws_row = workspace(request)
        given = {k[len("run.") :]: v for k, v in form.items() if k.startswith("run.") and v != ""}
        try:
            run = await runs.submit_run(db, lp, principal(request).actor(request), ws_row.id, job_id, given)
        except ValidationFailed as exc:
            await db.rollback()
            errors = {f"run.{k.removeprefix('parameters.')}": v for k, v in field_errors(exc).items()}
            return await self._job_page(
                request, db, job_id, errors=errors, form=form, run_message=exc.detail, status=422
            )
        return see_other(f"/ui/w/{ws_row.slug}/runs/{run.id}")


CONTROLLERS = [JobPages]
