"""Connections: list, create, edit (secrets write-only), test, delete."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.connections import services
from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionUpdate
from lakeplane.domain.etags import etag
from lakeplane.errors import Conflict, EndpointRefused, PreconditionFailed, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace
from lakeplane_ui import forms
from lakeplane_ui.web import field_errors, page, pager, read_form, see_other

KINDS = ("object_store", "catalog", "engine")
KIND_LABELS = {"object_store": "Object store", "catalog": "Catalog", "engine": "Engine"}


def plugin_choices(lp: Services) -> list[dict[str, str]]:
    return [
        {
            "value": f"{s.impl.kind}:{s.impl.name}",
            "label": f"{KIND_LABELS[s.impl.kind]}: {s.impl.name}",
            "description": s.impl.cls.description,
        }
        for s in lp.selection.all()
        if s.impl.kind in KINDS
    ]


def params_form(lp: Services, kind: str, plugin: str) -> list[forms.FormField]:
    return forms.struct_fields(services.implementation(lp, kind, plugin).impl.cls.Params)


class ConnectionPages(Controller):
    path = "/w/{ws:str}/connections"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        kind: Annotated[str | None, QueryParameter(name="role")] = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Template:
        rows = await services.search(
            db, workspace(request).id, kind=kind if kind in KINDS else None, cursor=cursor, limit=limit
        )
        next_cursor = rows[limit - 1].id if len(rows) > limit else None
        return await page(
            request,
            db,
            "connections.html",
            connections=[services.to_out(c) for c in rows[:limit]],
            kinds=KIND_LABELS,
            kind_filter=kind or "",
            **pager(request, next_cursor),
        )

    @get("/new", opt={"permission": "workspace:editor"})
    async def new_page(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, plugin: str = ""
    ) -> Template:
        return await self._form(request, db, lp, plugin, {}, {})

    async def _form(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        plugin: str,
        form: dict[str, Any],
        errors: dict[str, str],
        message: str = "",
        status: int = 200,
    ) -> Template:
        fields: list[forms.FormField] = []
        kind, _, name = plugin.partition(":")
        if kind in KINDS and name:
            try:
                fields = params_form(lp, kind, name)
            except ValidationFailed as exc:
                errors = {**errors, "plugin": exc.detail}
        return await page(
            request,
            db,
            "connection_new.html",
            status=status,
            choices=plugin_choices(lp),
            plugin=plugin,
            fields=fields,
            form=form,
            errors=errors,
            message=message,
        )

    @post("/new", opt={"permission": "workspace:editor"})
    async def create(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str
    ) -> Template | Redirect:
        form = await read_form(request)
        plugin = str(form.get("plugin", ""))
        kind, _, name = plugin.partition(":")
        errors: dict[str, str] = {}
        if kind not in KINDS or not name:
            return await self._form(
                request, db, lp, "", form, {"plugin": "choose a kind of connection"}, status=422
            )
        fields = params_form(lp, kind, name)
        params, errors = forms.parse(fields, form, "p")
        if not str(form.get("name", "")).strip():
            errors["name"] = "required"
        if errors:
            return await self._form(
                request, db, lp, plugin, form, errors, "Fix the fields marked below.", 422
            )
        try:
            data = ConnectionCreate(
                name=str(form["name"]).strip(),
                kind=kind,  # type: ignore[arg-type]
                plugin=name,
                params=params,  # type: ignore[arg-type]
                description=str(form.get("description", "")),
            )
            data = msgspec.convert(msgspec.to_builtins(data), ConnectionCreate)
            conn = await services.create(
                db, lp, principal(request).actor(request), workspace(request).id, data
            )
        except (ValidationFailed, EndpointRefused) as exc:
            errs = forms.errors_by_field(field_errors(exc) if isinstance(exc, ValidationFailed) else {}, "p")
            return await self._form(request, db, lp, plugin, form, errs, exc.detail, 422)
        except Conflict as exc:
            return await self._form(request, db, lp, plugin, form, {"name": exc.detail}, exc.detail, 409)
        except msgspec.ValidationError as exc:
            message = str(exc).replace("`", "").split(" - at ")[0]
            return await self._form(
                request, db, lp, plugin, form, {"name": message}, "Fix the fields marked below.", 422
            )
        return see_other(f"/ui/w/{workspace(request).slug}/connections/{conn.id}?created=1")

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        conn_id: str,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        test: Any = None,
        status: int = 200,
    ) -> Template:
        conn = services.to_out(await services.get(db, workspace(request).id, conn_id))
        try:
            fields = params_form(lp, conn.kind, conn.plugin)
        except ValidationFailed:
            fields = []
        return await page(
            request,
            db,
            "connection.html",
            status=status,
            conn=conn,
            fields=fields,
            kinds=KIND_LABELS,
            # A refused form keeps the tag it was read with: it saves only once reloaded.
            etag=(form or {}).get("etag") or etag(conn),
            form=form or {},
            errors=errors or {},
            message=message,
            test=test,
        )

    @get("/{conn_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, conn_id: str
    ) -> Template:
        return await self._detail(request, db, lp, conn_id)

    @post("/{conn_id:str}", opt={"permission": "workspace:editor"})
    async def update(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, conn_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        conn = await services.get(db, workspace(request).id, conn_id)
        fields = params_form(lp, conn.kind, conn.plugin)
        stored = set(conn.secrets) | set(conn.params)
        await db.rollback()
        params, errors = forms.parse(fields, form, "p", keep_blank_secrets=True)
        # A blank non-secret input clears an optional parameter.
        for f in fields:
            if (
                f.kind != "secret"
                and f"p.{f.name}" in form
                and not str(form[f"p.{f.name}"]).strip()
                and not f.required
            ):
                params.setdefault(f.name, None)
        if errors:
            return await self._detail(
                request,
                db,
                lp,
                conn_id,
                form=form,
                errors=errors,
                message="Fix the fields marked below.",
                status=422,
            )
        try:
            data = ConnectionUpdate(
                name=str(form.get("name", "")).strip() or None,
                description=form.get("description"),
                params={k: v for k, v in params.items() if not (v is None and k not in stored)},
            )
            await services.update(
                db,
                lp,
                principal(request).actor(request),
                workspace(request).id,
                conn_id,
                data,
                if_match(form),
            )
        except PreconditionFailed as exc:
            return await self._detail(request, db, lp, conn_id, form=form, message=exc.detail, status=412)
        except (ValidationFailed, EndpointRefused, Conflict) as exc:
            errs = forms.errors_by_field(field_errors(exc) if isinstance(exc, ValidationFailed) else {}, "p")
            if isinstance(exc, Conflict):
                errs["name"] = exc.detail
            return await self._detail(
                request, db, lp, conn_id, form=form, errors=errs, message=exc.detail, status=422
            )
        return see_other(f"/ui/w/{workspace(request).slug}/connections/{conn_id}?saved=1")

    @post("/{conn_id:str}/test", opt={"permission": "workspace:editor"})
    async def test(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, conn_id: str
    ) -> Template:
        await read_form(request)
        result = await services.test(
            db, lp, principal(request).actor(request), workspace(request).id, conn_id
        )
        return await self._detail(request, db, lp, conn_id, test=result)

    @post("/{conn_id:str}/delete", opt={"permission": "workspace:editor"})
    async def delete(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, conn_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            await services.delete(
                db, lp, principal(request).actor(request), workspace(request).id, conn_id, if_match(form)
            )
        except PreconditionFailed as exc:
            return await self._detail(request, db, lp, conn_id, form=form, message=exc.detail, status=412)
        return see_other(f"/ui/w/{workspace(request).slug}/connections?deleted=1")


def if_match(form: dict[str, Any]) -> str | None:
    """The ETag the form was rendered with, sent back as If-Match; None for a form without one."""
    return str(form.get("etag") or "") or None


CONTROLLERS = [ConnectionPages]
