"""Catalog browsing (namespaces, tables, schema, snapshots) and registered datasets."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.catalog import services as catalog
from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets import services as datasets
from lakeplane.domain.datasets.schemas import DatasetCreate, DatasetUpdate
from lakeplane.errors import Conflict, LakeplaneError, NotFound, PreconditionFailed, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace
from lakeplane_ui import charts
from lakeplane_ui.web import field_errors, page, pager, read_form, see_other


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


def split_tags(text: str) -> list[str]:
    return sorted({t.strip() for t in text.replace(";", ",").split(",") if t.strip()})


def struct_errors(exc: msgspec.ValidationError, default: str) -> dict[str, str]:
    reason, _, where = str(exc).replace("`", "").partition(" - at $.")
    return {(where.split(".")[0].split("[")[0] or default): reason}


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
        rows = list(
            await datasets.search(
                db,
                workspace(request).id,
                tag=tag or None,
                owner=owner or None,
                q=q or None,
                cursor=cursor,
                limit=50,
            )
        )
        return await page(
            request,
            db,
            "datasets.html",
            datasets=[datasets.to_out(d) for d in rows[:50]],
            f={"tag": tag or "", "owner": owner or "", "q": q or ""},
            errors={},
            form={},
            **pager(request, rows[49].id if len(rows) > 50 else None),
        )

    @post("/", opt={"permission": "workspace:editor"})
    async def register(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str
    ) -> Template | Redirect:
        form = await read_form(request)
        ws_row = workspace(request)
        payload: dict[str, Any] = {
            "name": str(form.get("name", "")).strip(),
            "owner": str(form.get("owner", "")).strip(),
            "tags": split_tags(str(form.get("tags", ""))),
            "description": str(form.get("description", "")),
        }
        if form.get("connection_id"):
            payload.update(
                connection_id=form["connection_id"],
                namespace=str(form.get("namespace", "")).split("."),
                table=form.get("table"),
            )
        if str(form.get("location", "")).strip():
            payload["location"] = str(form["location"]).strip()
        try:
            data = msgspec.convert(payload, DatasetCreate)
            ds = await datasets.create(db, lp, principal(request).actor(request), ws_row.id, data)
        except msgspec.ValidationError as exc:
            return await self._register_failed(
                request, db, form, struct_errors(exc, "name"), "Fix the fields marked below."
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            errs = field_errors(exc) if isinstance(exc, ValidationFailed) else {"name": exc.detail}
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
        rows = list(
            await datasets.search(
                db, workspace(request).id, tag=None, owner=None, q=None, cursor=None, limit=50
            )
        )
        return await page(
            request,
            db,
            "datasets.html",
            status=422,
            datasets=[datasets.to_out(d) for d in rows[:50]],
            f={"tag": "", "owner": "", "q": ""},
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
        tag: str | None = None,
    ) -> Template:
        ds = await datasets.detail(db, lp, workspace(request).id, dataset_id)
        chart, points = snapshot_chart(ds.live, f"Rows per snapshot of {ds.name}")
        return await page(
            request,
            db,
            "dataset.html",
            status=status,
            ds=ds,
            # A refused form keeps the tag it was read with: it saves only once reloaded.
            etag=tag or datasets.tag_of(ds),
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
            data = msgspec.convert(
                {
                    "owner": str(form.get("owner", "")).strip(),
                    "tags": split_tags(str(form.get("tags", ""))),
                    "description": str(form.get("description", "")),
                },
                DatasetUpdate,
            )
            await datasets.update(
                db, principal(request).actor(request), workspace(request).id, dataset_id, data, if_match(form)
            )
        except PreconditionFailed as exc:
            return await self._detail(
                request, db, lp, dataset_id, message=exc.detail, status=412, tag=if_match(form)
            )
        except msgspec.ValidationError as exc:
            return await self._detail(
                request,
                db,
                lp,
                dataset_id,
                errors=struct_errors(exc, "owner"),
                status=422,
                message="Fix the fields marked below.",
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
            return await self._detail(
                request, db, lp, dataset_id, message=exc.detail, status=412, tag=if_match(form)
            )
        return see_other(f"/ui/w/{workspace(request).slug}/datasets?deleted=1")


def if_match(form: dict[str, Any]) -> str | None:
    """The ETag the form was rendered with, sent back as If-Match; None for a form without one."""
    return str(form.get("etag") or "") or None


CONTROLLERS = [CatalogPages, DatasetPages]
