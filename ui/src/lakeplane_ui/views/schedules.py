"""Schedules: list, create (with a preview of the next fire times), pause and resume, delete."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import page as page_of
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.schedules import services
from lakeplane.domain.schedules.schemas import ScheduleCreate
from lakeplane.errors import Conflict, NotFound, ValidationFailed
from lakeplane.web.guards import principal, workspace
from lakeplane_ui import forms
from lakeplane_ui.web import PAGE_SIZE, page, pager, read_form, see_other


class SchedulePages(Controller):
    path = "/w/{ws:str}/schedules"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        job_id: str | None,
        cursor: str | None = None,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        status: int = 200,
        preview: list[Any] | None = None,
    ) -> Template:
        ws_row = workspace(request)
        rows = await services.list_schedules(db, ws_row.id, job_id or None, cursor, PAGE_SIZE)
        found = page_of(rows, PAGE_SIZE, services.to_out)
        job_rows = await jobs.list_jobs(db, ws_row.id, None, 500)
        return await page(
            request,
            db,
            "schedules.html",
            status=status,
            schedules=found.items,
            job_names={j.id: j.name for j in job_rows},
            job_id=job_id or "",
            form=form or {"job_id": job_id or ""},
            errors=errors or {},
            message=message,
            preview=preview,
            **pager(request, found),
        )

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
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
        return await self._page(request, db, job_id, cursor, form=form, errors=errors, preview=preview)

    @post("/", opt={"permission": "workspace:editor"})
    async def create(self, request: Request[Any, Any, Any], db: AsyncSession, ws: str) -> Template | Redirect:
        form = await read_form(request)
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
            return await self._page(
                request,
                db,
                None,
                form=form,
                errors=errors,
                message=forms.FIX_FIELDS,
                status=422,
            )
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
            await services.create(db, principal(request).actor(request), workspace(request).id, data)
        except msgspec.ValidationError as exc:
            return await self._page(
                request,
                db,
                None,
                form=form,
                errors=forms.struct_errors(exc, "cron"),
                status=422,
                message=forms.FIX_FIELDS,
            )
        except (ValidationFailed, NotFound, Conflict) as exc:
            errs = forms.field_errors(exc) if isinstance(exc, ValidationFailed) else {"job_id": exc.detail}
            return await self._page(
                request,
                db,
                None,
                form=form,
                errors=errs or {"cron": exc.detail},
                message=exc.detail,
                status=422,
            )
        return see_other(f"/ui/w/{workspace(request).slug}/schedules?created=1")

    @post("/{schedule_id:str}/pause", opt={"permission": "workspace:editor"})
    async def pause(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, schedule_id: str
    ) -> Redirect:
        form = await read_form(request)
        paused = form.get("paused") == "1"
        await services.set_paused(
            db, principal(request).actor(request), workspace(request).id, schedule_id, paused
        )
        return see_other(f"/ui/w/{workspace(request).slug}/schedules")

    @post("/{schedule_id:str}/delete", opt={"permission": "workspace:editor"})
    async def delete(
        self, request: Request[Any, Any, Any], db: AsyncSession, ws: str, schedule_id: str
    ) -> Redirect:
        await read_form(request)
        await services.delete(db, principal(request).actor(request), workspace(request).id, schedule_id)
        return see_other(f"/ui/w/{workspace(request).slug}/schedules?deleted=1")


CONTROLLERS = [SchedulePages]
