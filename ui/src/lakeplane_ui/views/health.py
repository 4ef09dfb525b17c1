"""Health: the control plane (what ``/health/ready`` reports) and every data-plane
connection of the user's workspaces, each with its latency and last error."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Controller, get
from litestar.response import Template

from lakeplane.domain.connections import services as connections
from lakeplane.domain.system.services import readiness
from lakeplane.domain.workspaces import services as workspaces
from lakeplane.errors import LakeplaneError
from lakeplane.runtime import Services
from lakeplane.security.redact import Redactor
from lakeplane.timeutil import utcnow
from lakeplane_ui.web import View

PROBE_TIMEOUT_S = 5.0
MAX_PROBES = 50


def _remember(lp: Services, entry: dict[str, Any]) -> dict[str, Any]:
    """Keep each component's last error (and when it happened) across page views in this process."""
    seen: dict[str, dict[str, Any]] = lp.caches.setdefault("ui_health_last_error", {})
    if not entry["ok"]:
        seen[entry["key"]] = {"error": entry.get("error") or "failed", "at": utcnow()}
    last = seen.get(entry["key"])
    return {
        **entry,
        "last_error": last["error"] if last else None,
        "last_error_at": last["at"] if last else None,
    }


async def _redactor(lp: Services, conn: Any) -> Redactor:
    """The connection's redactor; none if its secrets cannot be read (then no plugin had them)."""
    try:
        return await connections.redactor_for(lp, conn)
    except LakeplaneError:
        return Redactor(())


async def _probe(lp: Services, ws_name: str, conn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    entry: dict[str, Any] = {
        "key": conn.id,
        "name": conn.name,
        "workspace": ws_name,
        "kind": conn.kind,
        "plugin": conn.plugin,
        "conn_id": conn.id,
    }
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), connections.open_component(lp, conn) as component:
            result = await component.health()
        entry["ok"] = result.ok
        if not result.ok:
            entry["error"] = "; ".join(c.message for c in result.checks if c.message)[:300] or "unhealthy"
    except TimeoutError:
        entry["ok"], entry["error"] = False, f"no answer within {PROBE_TIMEOUT_S:g} s"
    except LakeplaneError as exc:
        entry["ok"], entry["error"] = False, (await _redactor(lp, conn))(exc.detail)[:300]
    except Exception as exc:  # a plugin bug shows as a failed component, not a broken page
        entry["ok"], entry["error"] = (
            False,
            (await _redactor(lp, conn))(f"{type(exc).__name__}: {exc}")[:300],
        )
    entry["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return entry


class HealthPages(Controller):
    path = "/health"

    @get("/", opt={"permission": "authenticated"})
    async def health(self, view: View) -> Template:
        db, lp, me = view.db, view.lp, view.principal
        ready = await readiness(lp)
        control = [_remember(lp, {**c, "key": c["name"]}) for c in ready["components"]]
        targets = []
        for ws, _role in await workspaces.list_for(db, me.user_id, me.is_admin, None, 100):
            for conn in await connections.search(db, ws.id, limit=MAX_PROBES):
                targets.append((ws.name, conn))
        db.expunge_all()  # keep the loaded rows usable after the transaction ends
        await db.rollback()
        probed = await asyncio.gather(*(_probe(lp, name, conn) for name, conn in targets[:MAX_PROBES]))
        data_plane = [_remember(lp, e) for e in probed]
        return await view.page(
            "health.html",
            status_label=ready["status"],
            control=control,
            data_plane=data_plane,
            checked_at=utcnow(),
            truncated=len(targets) > MAX_PROBES,
        )


CONTROLLERS = [HealthPages]
