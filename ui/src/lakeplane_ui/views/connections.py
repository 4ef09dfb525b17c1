"""Connections: list, create, edit (secrets write-only), test, delete."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from lakeplane.db.pagination import Paging
from lakeplane.db.pagination import page as page_of
from lakeplane.domain.connections import services
from lakeplane.domain.etags import etag
from lakeplane.errors import Conflict, PreconditionFailed, ValidationFailed
from lakeplane.runtime import Services
from lakeplane_ui import forms
from lakeplane_ui.forms import if_match
from lakeplane_ui.web import FRESH, Outcome, View, see_other

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
        view: View,
        paging: Paging,
        kind: Annotated[str | None, QueryParameter(name="role")] = None,
    ) -> Template:
        rows = await services.search(
            view.db,
            view.workspace.id,
            kind=kind if kind in KINDS else None,
            cursor=paging.cursor,
            limit=paging.limit,
        )
        return await view.paged(
            "connections.html",
            page_of(rows, paging.limit, services.to_out),
            items="connections",
            kinds=KIND_LABELS,
            kind_filter=kind or "",
        )

    @get("/new", opt={"permission": "workspace:editor"})
    async def new_page(self, view: View, plugin: str = "") -> Template:
        return await self._form(view, plugin)

    async def _form(self, view: View, plugin: str, shown: Outcome = FRESH) -> Template:
        fields: list[forms.FormField] = []
        kind, _, name = plugin.partition(":")
        if kind in KINDS and name:
            try:
                fields = params_form(view.lp, kind, name)
            except ValidationFailed as exc:
                shown = dataclasses.replace(shown, errors={**shown.errors, "plugin": exc.detail})
        return await view.page(
            "connection_new.html", shown, choices=plugin_choices(view.lp), plugin=plugin, fields=fields
        )

    @post("/new", opt={"permission": "workspace:editor"})
    async def create(self, view: View) -> Template | Redirect:
        form = await view.form()
        plugin = str(form.get("plugin", ""))
        kind, _, name = plugin.partition(":")
        if kind not in KINDS or not name:
            return await self._form(
                view, "", Outcome(form, {"plugin": "choose a kind of connection"}, status=422)
            )
        posted = forms.ConnectionForm.read(form, params_form(view.lp, kind, name), new=True)
        if posted.errors:
            return await self._form(view, plugin, Outcome(form, posted.errors, forms.FIX_FIELDS, 422))
        try:
            conn = await services.create(
                view.db, view.lp, view.actor(), view.workspace.id, posted.create(kind, name)
            )
        except forms.ConnectionForm.SAVE_ERRORS as exc:
            status = 409 if isinstance(exc, Conflict) else 422
            return await self._form(view, plugin, Outcome(form, posted.save_errors(exc), exc.detail, status))
        except msgspec.ValidationError as exc:
            message = str(exc).replace("`", "").split(" - at ")[0]
            return await self._form(view, plugin, Outcome(form, {"name": message}, forms.FIX_FIELDS, 422))
        return see_other(f"/ui/w/{view.workspace.slug}/connections/{conn.id}?created=1")

    async def _detail(
        self, view: View, conn_id: str, shown: Outcome = FRESH, *, test: Any = None
    ) -> Template:
        conn = services.to_out(await services.get(view.db, view.workspace.id, conn_id))
        try:
            fields = params_form(view.lp, conn.kind, conn.plugin)
        except ValidationFailed:
            fields = []
        return await view.page(
            "connection.html",
            shown,
            conn=conn,
            fields=fields,
            kinds=KIND_LABELS,
            etag=forms.tag_shown(shown.form, etag(conn)),
            test=test,
        )

    @get("/{conn_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(self, view: View, conn_id: str) -> Template:
        return await self._detail(view, conn_id)

    @post("/{conn_id:str}", opt={"permission": "workspace:editor"})
    async def update(self, view: View, conn_id: str) -> Template | Redirect:
        form = await view.form()
        conn = await services.get(view.db, view.workspace.id, conn_id)
        fields = params_form(view.lp, conn.kind, conn.plugin)
        stored = set(conn.secrets) | set(conn.params)
        await view.db.rollback()
        posted = forms.ConnectionForm.read(form, fields, new=False)
        if posted.errors:
            return await self._detail(view, conn_id, Outcome(form, posted.errors, forms.FIX_FIELDS, 422))
        try:
            await services.update(
                view.db,
                view.lp,
                view.actor(),
                view.workspace.id,
                conn_id,
                posted.update(stored),
                if_match(form),
            )
        except PreconditionFailed as exc:
            return await self._detail(view, conn_id, Outcome(form, message=exc.detail, status=412))
        except forms.ConnectionForm.SAVE_ERRORS as exc:
            return await self._detail(view, conn_id, Outcome(form, posted.save_errors(exc), exc.detail, 422))
        return see_other(f"/ui/w/{view.workspace.slug}/connections/{conn_id}?saved=1")

    @post("/{conn_id:str}/test", opt={"permission": "workspace:editor"})
    async def test(self, view: View, conn_id: str) -> Template:
        await view.form()
        result = await services.test(view.db, view.lp, view.actor(), view.workspace.id, conn_id)
        return await self._detail(view, conn_id, test=result)

    @post("/{conn_id:str}/delete", opt={"permission": "workspace:editor"})
    async def delete(self, view: View, conn_id: str) -> Template | Redirect:
        form = await view.form()
        try:
            await services.delete(view.db, view.lp, view.actor(), view.workspace.id, conn_id, if_match(form))
        except PreconditionFailed as exc:
            return await self._detail(view, conn_id, Outcome(form, message=exc.detail, status=412))
        return see_other(f"/ui/w/{view.workspace.slug}/connections?deleted=1")


CONTROLLERS = [ConnectionPages]
