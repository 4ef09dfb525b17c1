"""Catalog browsing (namespaces, tables, schema, snapshots) and registered datasets."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.response import Redirect, Template

from lakeplane.db.pagination import page as page_of
from lakeplane.domain.catalog import services as catalog
from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets import services as datasets
from lakeplane.errors import Conflict, LakeplaneError, NotFound, PreconditionFailed, ValidationFailed
from lakeplane_ui import charts, forms
from lakeplane_ui.forms import if_match
from lakeplane_ui.web import FRESH, PAGE_SIZE, Outcome, View, see_other


def snapshot_chart(live: dict[str, Any] | None, title: str) -> tuple[Any, list[charts.Point]]:
    points = [
        charts.Point(
            label=s["timestamp"].strftime("%m-%d %H:%M")
            if hasattr(s["timestamp"], "strftime")
            else str(s["timestamp"]),
            value=float(s["total_records"] or 0),
            tone="busy",
        )
        for s in (live or {}).get("snapshots", [])
        if s.get("total_records") is not None
    ]
    return charts.bar_chart(points, title, "rows"), points


class CatalogPages(Controller):
    path = "/w/{ws:str}/catalog"

    @get("/", opt={"permission": "workspace:viewer"})
    async def browse(
        self, view: View, conn: str | None = None, ns: str | None = None, table: str | None = None
    ) -> Template:
        db, lp, ws_id = view.db, view.lp, view.workspace.id
        catalogs = [
            connections.to_out(c) for c in await connections.search(db, ws_id, kind="catalog", limit=200)
        ]
        if not conn and len(catalogs) == 1:
            conn = catalogs[0].id
        namespaces: list[str] = []
        tables: list[str] = []
        detail = None
        error = ""
        chart: Any = None
        points: list[charts.Point] = []
        try:
            if conn:
                namespaces = await catalog.namespaces(db, lp, ws_id, conn, None)
                if ns:
                    tables = await catalog.tables(db, lp, ws_id, conn, ns)
                if ns and table:
                    detail = await catalog.table(db, lp, ws_id, conn, ns, table)
                    chart, points = snapshot_chart(detail, f"Rows per snapshot of {ns}.{table}")
        except LakeplaneError as exc:
            error = exc.detail
        return await view.page(
            "catalog.html",
            catalogs=catalogs,
            conn=conn or "",
            ns=ns or "",
            table=table or "",
            namespaces=namespaces,
            tables=tables,
            detail=detail,
            error=error,
            chart=chart,
            points=points,
        )


class DatasetPages(Controller):
    path = "/w/{ws:str}/datasets"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        view: View,
        tag: str | None = None,
        owner: str | None = None,
        q: str | None = None,
        cursor: str | None = None,
    ) -> Template:
        filters = {"tag": tag or "", "owner": owner or "", "q": q or ""}
        return await self._list(view, filters, cursor)

    async def _list(
        self, view: View, filters: dict[str, str], cursor: str | None, shown: Outcome = FRESH
    ) -> Template:
        rows = await datasets.search(
            view.db,
            view.workspace.id,
            tag=filters["tag"] or None,
            owner=filters["owner"] or None,
            q=filters["q"] or None,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
        return await view.paged(
            "datasets.html",
            page_of(rows, PAGE_SIZE, datasets.to_out),
            items="datasets",
            shown=shown,
            f=filters,
        )

    @post("/", opt={"permission": "workspace:editor"})
    async def register(self, view: View) -> Template | Redirect:
        form = await view.form()
        try:
            data = forms.DatasetForm(form).create()
            ds = await datasets.create(view.db, view.lp, view.actor(), view.workspace.id, data)
        except msgspec.ValidationError as exc:
            return await self._register_failed(
                view, Outcome(form, forms.struct_errors(exc, "name"), forms.FIX_FIELDS, 422)
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            errs = forms.field_errors(exc) if isinstance(exc, ValidationFailed) else {"name": exc.detail}
            return await self._register_failed(view, Outcome(form, errs, exc.detail, 422))
        except LakeplaneError as exc:
            return await self._register_failed(view, Outcome(form, message=exc.detail, status=422))
        return see_other(f"/ui/w/{view.workspace.slug}/datasets/{ds.id}?created=1")

    async def _register_failed(self, view: View, shown: Outcome) -> Template:
        """The first page of all datasets again, with the registration form as sent."""
        return await self._list(view, {"tag": "", "owner": "", "q": ""}, None, shown)

    async def _detail(self, view: View, dataset_id: str, shown: Outcome = FRESH) -> Template:
        ds = await datasets.detail(view.db, view.lp, view.workspace.id, dataset_id)
        chart, points = snapshot_chart(ds.live, f"Rows per snapshot of {ds.name}")
        return await view.page(
            "dataset.html",
            shown,
            ds=ds,
            etag=forms.tag_shown(shown.form, datasets.tag_of(ds)),
            chart=chart,
            points=points,
        )

    @get("/{dataset_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(self, view: View, dataset_id: str) -> Template:
        return await self._detail(view, dataset_id)

    @post("/{dataset_id:str}", opt={"permission": "workspace:editor"})
    async def update(self, view: View, dataset_id: str) -> Template | Redirect:
        form = await view.form()
        try:
            data = forms.DatasetForm(form).update()
            await datasets.update(view.db, view.actor(), view.workspace.id, dataset_id, data, if_match(form))
        except PreconditionFailed as exc:
            return await self._detail(view, dataset_id, Outcome(form, message=exc.detail, status=412))
        except msgspec.ValidationError as exc:
            refused = Outcome(errors=forms.struct_errors(exc, "owner"), message=forms.FIX_FIELDS, status=422)
            return await self._detail(view, dataset_id, refused)
        return see_other(f"/ui/w/{view.workspace.slug}/datasets/{dataset_id}?saved=1")

    @post("/{dataset_id:str}/delete", opt={"permission": "workspace:editor"})
    async def unregister(self, view: View, dataset_id: str) -> Template | Redirect:
        form = await view.form()
        try:
            await datasets.delete(view.db, view.actor(), view.workspace.id, dataset_id, if_match(form))
        except PreconditionFailed as exc:
            return await self._detail(view, dataset_id, Outcome(form, message=exc.detail, status=412))
        return see_other(f"/ui/w/{view.workspace.slug}/datasets?deleted=1")


CONTROLLERS = [CatalogPages, DatasetPages]
