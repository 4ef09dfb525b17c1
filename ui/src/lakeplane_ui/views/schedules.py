"""Schedules: list, create (with a preview of the next fire times), pause and resume, delete."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.response import Redirect, Template

from lakeplane.db.pagination import page as page_of
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.schedules import services
from lakeplane.domain.schedules.schemas import ScheduleCreate
from lakeplane.errors import Conflict, NotFound, ValidationFailed
from lakeplane_ui import forms
from lakeplane_ui.web import PAGE_SIZE, Outcome, View, see_other


class SchedulePages(Controller):
    path = "/w/{ws:str}/schedules"

    async def _page(
        self,
        view: View,
        job_id: str | None,
        cursor: str | None,
        shown: Outcome,
        preview: list[Any] | None = None,
    ) -> Template:
        ws_id = view.workspace.id
        rows = await services.list_schedules(view.db, ws_id, job_id or None, cursor, PAGE_SIZE)
        job_rows = await jobs.list_jobs(view.db, ws_id, None, 500)
        return await view.paged(
            "schedules.html",
            page_of(rows, PAGE_SIZE, services.to_out),
            items="schedules",
            shown=shown,
            job_names={j.id: j.name for j in job_rows},
            job_id=job_id or "",
            preview=preview,
        )

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        view: View,
        job_id: str | None = None,
        cursor: str | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
    ) -> Template:
        preview = None
        errors: dict[str, str] = {}
        if cron:
            try:
                preview = services.preview(cron, timezone)
            except ValidationFailed as exc:
                errors = forms.field_errors(exc) or {"cron": exc.detail}
        form = {"job_id": job_id or "", "cron": cron or "", "timezone": timezone}
        return await self._page(view, job_id, cursor, Outcome(form, errors), preview)

    @post("/", opt={"permission": "workspace:editor"})
    async def create(self, view: View) -> Template | Redirect:
        form = await view.form()
        errors: dict[str, str] = {}
        try:
            params = json.loads(form.get("parameters") or "{}")
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            errors["parameters"] = 'a JSON object, e.g. {"day": "2026-01-01"}'
            params = {}
        if not form.get("job_id"):
            errors["job_id"] = "choose a job"
        if errors:
            return await self._page(view, None, None, Outcome(form, errors, forms.FIX_FIELDS, 422))
        try:
            data = msgspec.convert(
                {
                    "job_id": form["job_id"],
                    "cron": str(form.get("cron", "")).strip(),
                    "timezone": str(form.get("timezone", "UTC")).strip() or "UTC",
                    "parameters": params,
                    "misfire_policy": form.get("misfire_policy", "skip"),
                    "paused": bool(form.get("paused")),
                },
                ScheduleCreate,
            )
            await services.create(view.db, view.actor(), view.workspace.id, data)
        except msgspec.ValidationError as exc:
            refused = Outcome(form, forms.struct_errors(exc, "cron"), forms.FIX_FIELDS, 422)
            return await self._page(view, None, None, refused)
        except (ValidationFailed, NotFound, Conflict) as exc:
            errs = forms.field_errors(exc) if isinstance(exc, ValidationFailed) else {"job_id": exc.detail}
            return await self._page(
                view, None, None, Outcome(form, errs or {"cron": exc.detail}, exc.detail, 422)
            )
        return see_other(f"/ui/w/{view.workspace.slug}/schedules?created=1")

    @post("/{schedule_id:str}/pause", opt={"permission": "workspace:editor"})
    async def pause(self, view: View, schedule_id: str) -> Redirect:
        form = await view.form()
        paused = form.get("paused") == "1"
        await services.set_paused(view.db, view.actor(), view.workspace.id, schedule_id, paused)
        return see_other(f"/ui/w/{view.workspace.slug}/schedules")

    @post("/{schedule_id:str}/delete", opt={"permission": "workspace:editor"})
    async def delete(self, view: View, schedule_id: str) -> Redirect:
        await view.form()
        await services.delete(view.db, view.actor(), view.workspace.id, schedule_id)
        return see_other(f"/ui/w/{view.workspace.slug}/schedules?deleted=1")


CONTROLLERS = [SchedulePages]
