"""Every route of a running app, read from its route table, with its path filled in."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar


def operations(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, path template, handler) for every route, HEAD and OPTIONS aside."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", ())):
                if method not in ("HEAD", "OPTIONS"):
                    found.append((method, route.path, handler))
    return found


def concrete(path: str, ws: str) -> str:
    """Fill path parameters: the workspace ``ws`` for ``{ws}``, a harmless value elsewhere."""
    path = re.sub(r"\{ws(:\w+)?\}", ws, path)
    path = re.sub(r"\{\w+:int\}", "1", path)
    path = re.sub(r"\{\w+:path\}", "/x", path)
    return re.sub(r"\{\w+(:\w+)?\}", "x-none", path)
