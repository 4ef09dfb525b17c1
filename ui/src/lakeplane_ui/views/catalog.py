"""Catalog browsing (namespaces, tables, schema, snapshots) and registered datasets."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import Page
from lakeplane.db.pagination import page as page_of
from lakeplane.domain.catalog import services as catalog
from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets import services as datasets
from lakeplane.errors import Conflict, LakeplaneError, NotFound, PreconditionFailed, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace
from lakeplane_ui import charts, forms
from lakeplane_ui.forms import if_match
from lakeplane_ui.web import PAGE_SIZE, page, pager, read_form, see_other


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
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        ws: str,
        conn: str | None = None,
        ns: str | None = None,
        table: str | None = None,
    ) -> Template:
        ws_row = workspace(request)
        catalogs = [
            connections.to_out(c) for c in await connections.search(db, ws_row.id, kind="catalog", limit=200)
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
                namespaces = await catalog.namespaces(db, lp, ws_row.id, conn, None)
                if ns:
                    tables = await catalog.tables(db, lp, ws_row.id, conn, ns)
                if ns and table:
                    detail = await catalog.table(db, lp, ws_row.id, conn, ns, table)
                    chart, points = snapshot_chart(detail, f"Rows per snapshot of {ns}.{table}")
        except LakeplaneError as exc:
            error = exc.detail
        return await page(
            request,
            db,
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
            errors={},
            form={},
        )


class DatasetPages(Controller):
    path = "/w/{ws:str}/datasets"

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ws: str,
        tag: str | None = None,
        owner: str | None = None,
        q: str | None = None,
        cursor: str | None = None,
    ) -> Template:
        filters = {"tag": tag or "", "owner": owner or "", "q": q or ""}
        found = await self._search(request, db, filters, cursor)
        return await page(
            request,
            db,
            "datasets.html",
            datasets=found.items,
            f=filters,
            errors={},
            form={},
            **pager(request, found),
        )

    async def _search(
        self, request: Request[Any, Any, Any], db: AsyncSession, filters: dict[str, str], cursor: str | None
    ) -> Page[Any]:
        rows = await datasets.search(
            db,
            workspace(request).id,
            tag=filters["tag"] or None,
            owner=filters["owner"] or None,
            q=filters["q"] or None,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
        return page_of(rows, PAGE_SIZE, datasets.to_out)

    @post("/", opt={"permission": "workspace:editor"})
    async def register(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str
    ) -> Template | Redirect:
        form = await read_form(request)
        ws_row = workspace(request)
        try:
            data = forms.DatasetForm(form).create()
            ds = await datasets.create(db, lp, principal(request).actor(request), ws_row.id, data)
        except msgspec.ValidationError as exc:
            return await self._register_failed(
                request, db, form, forms.struct_errors(exc, "name"), forms.FIX_FIELDS
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            errs = forms.field_errors(exc) if isinstance(exc, ValidationFailed) else {"name": exc.detail}
            return await self._register_failed(request, db, form, errs, exc.detail)
        except LakeplaneError as exc:
            return await self._register_failed(request, db, form, {}, exc.detail)
        return see_other(f"/ui/w/{ws_row.slug}/datasets/{ds.id}?created=1")

    async def _register_failed(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        form: dict[str, Any],
        errors: dict[str, str],
        message: str,
    ) -> Template:
        filters = {"tag": "", "owner": "", "q": ""}
        found = await self._search(request, db, filters, None)
        return await page(
            request,
            db,
            "datasets.html",
            status=422,
            datasets=found.items,
            f=filters,
            errors=errors,
            form=form,
            message=message,
            next_cursor=None,
        )

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lp: Services,
        dataset_id: str,
        *,
        errors: dict[str, str] | None = None,
        message: str = "",
        status: int = 200,
        form: dict[str, Any] | None = None,
    ) -> Template:
        ds = await datasets.detail(db, lp, workspace(request).id, dataset_id)
        chart, points = snapshot_chart(ds.live, f"Rows per snapshot of {ds.name}")
        return await page(
            request,
            db,
            "dataset.html",
            status=status,
            ds=ds,
            etag=forms.tag_shown(form, datasets.tag_of(ds)),
            chart=chart,
            points=points,
            errors=errors or {},
            message=message,
        )

    @get("/{dataset_id:str}", opt={"permission": "workspace:viewer"})
    async def detail(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, dataset_id: str
    ) -> Template:
        return await self._detail(request, db, lp, dataset_id)

    @post("/{dataset_id:str}", opt={"permission": "workspace:editor"})
    async def update(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, dataset_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = forms.DatasetForm(form).update()
            await datasets.update(
                db, principal(request).actor(request), workspace(request).id, dataset_id, data, if_match(form)
            )
        except PreconditionFailed as exc:
            return await self._detail(request, db, lp, dataset_id, form=form, message=exc.detail, status=412)
        except msgspec.ValidationError as exc:
            return await self._detail(
                request,
                db,
                lp,
                dataset_id,
                errors=forms.struct_errors(exc, "owner"),
                status=422,
                message=forms.FIX_FIELDS,
            )
        return see_other(f"/ui/w/{workspace(request).slug}/datasets/{dataset_id}?saved=1")

    @post("/{dataset_id:str}/delete", opt={"permission": "workspace:editor"})
    async def unregister(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, dataset_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            await datasets.delete(
                db, principal(request).actor(request), workspace(request).id, dataset_id, if_match(form)
            )
        except PreconditionFailed as exc:
            return await self._detail(request, db, lp, dataset_id, form=form, message=exc.detail, status=412)
        return see_other(f"/ui/w/{workspace(request).slug}/datasets?deleted=1")


CONTROLLERS = [CatalogPages, DatasetPages]
