"""Entry point ``lakeplane.plugins: ui``: mounts the pages and their templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeplane.hookspecs import hookimpl

TEMPLATES = Path(__file__).parent / "templates"


@hookimpl
def lakeplane_web_routes() -> list[Any]:
    from lakeplane_ui.web import ui_routes

    return ui_routes()


@hookimpl
def lakeplane_template_dirs() -> list[str]:
    return [str(TEMPLATES)]
