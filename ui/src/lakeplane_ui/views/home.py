"""The workspace list (home page), the workspace switcher and workspace creation."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.workspaces import services
from lakeplane.domain.workspaces.schemas import WorkspaceCreate
from lakeplane.errors import Conflict, ValidationFailed
from lakeplane.web.guards import principal
from lakeplane_ui.web import page, read_form, see_other


class HomeController(Controller):
    path = "/"

    @get("/", opt={"permission": "authenticated"})
    async def home(self, request: Request[Any, Any, Any], db: AsyncSession) -> Template:
        return await page(request, db, "home.html", errors={}, form={})

    @get("/switch", opt={"permission": "authenticated"})
    async def switch(self, ws: str = "") -> Redirect:
        """The switcher is a GET form: it only navigates."""
        if not ws:
            return see_other("/ui/")
        return see_other(f"/ui/w/{ws}/runs")

    @get("/w/{ws:str}", opt={"permission": "workspace:viewer"})
    async def workspace_home(self, ws: str) -> Redirect:
        return see_other(f"/ui/w/{ws}/runs")

    @post("/workspaces", opt={"permission": "admin"})
    async def create_workspace(
        self, request: Request[Any, Any, Any], db: AsyncSession
    ) -> Template | Redirect:
        form = await read_form(request)
        errors: dict[str, str] = {}
        try:
            data = msgspec.convert(
                {
                    "slug": form.get("slug", "").strip(),
                    "name": form.get("name", "").strip(),
                    "description": form.get("description", ""),
                },
                WorkspaceCreate,
            )
            created = await services.create(db, principal(request).actor(request), data)
        except msgspec.ValidationError as exc:
            field = "slug" if "slug" in str(exc) else "name"
            errors[field] = str(exc).split(" - at ")[0].replace("`", "")
        except (ValidationFailed, Conflict) as exc:
            errors["slug"] = exc.detail
        if errors:
            return await page(request, db, "home.html", status=422, errors=errors, form=form)
        return see_other(f"/ui/w/{created.slug}/runs")


CONTROLLERS = [HomeController]
