"""The workspace list (home page), the workspace switcher and workspace creation."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.response import Redirect, Template

from lakeplane.domain.workspaces import services
from lakeplane.domain.workspaces.schemas import WorkspaceCreate
from lakeplane.errors import Conflict, ValidationFailed
from lakeplane_ui.web import Outcome, View, see_other


class HomeController(Controller):
    path = "/"

    @get("/", opt={"permission": "authenticated"})
    async def home(self, view: View) -> Template:
        return await view.page("home.html")

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
    async def create_workspace(self, view: View) -> Template | Redirect:
        form = await view.form()
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
            created = await services.create(view.db, view.actor(), data)
        except msgspec.ValidationError as exc:
            field = "slug" if "slug" in str(exc) else "name"
            errors[field] = str(exc).split(" - at ")[0].replace("`", "")
        except (ValidationFailed, Conflict) as exc:
            errors["slug"] = exc.detail
        if errors:
            return await view.page("home.html", Outcome(form, errors, status=422))
        return see_other(f"/ui/w/{created.slug}/runs")


CONTROLLERS = [HomeController]
