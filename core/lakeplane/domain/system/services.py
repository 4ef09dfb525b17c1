"""Health of the platform's own dependencies, and the gauges the metrics sampler reads."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.runs.lifecycle import RunState
from lakeplane.runtime import Services
from lakeplane.timeutil import elapsed_ms

HEALTH_TIMEOUT_S = 3.0


async def database_health(lp: Services) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), lp.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"name": "database", "ok": True, "latency_ms": elapsed_ms(started)}
    except Exception as exc:
        return {
            "name": "database",
            "ok": False,
            "latency_ms": elapsed_ms(started),
            "error": type(exc).__name__,
        }


async def platform_object_store_health(lp: Services) -> dict[str, Any]:
    """The object store the platform itself uses (run logs), configured in ``[object_store.options]``."""
    from lakeplane.domain.runs.logstore import platform_store

    started = time.perf_counter()
    name = f"object_store:{lp.selection.object_store.impl.name}"
    if "bucket" not in lp.config.object_store.options:
        return {"name": name, "ok": True, "latency_ms": 0.0, "detail": "no platform store configured"}
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), platform_store(lp) as store:
            result = await store.health()
        entry: dict[str, Any] = {"name": name, "ok": result.ok, "latency_ms": elapsed_ms(started)}
        if not result.ok:
            entry["error"] = "; ".join(c.message for c in result.checks if c.message)[:300]
        return entry
    except Exception as exc:
        return {"name": name, "ok": False, "latency_ms": elapsed_ms(started), "error": type(exc).__name__}


async def readiness(lp: Services) -> dict[str, Any]:
    """Database and platform store checks plus the selected plugins: /health/ready and the health page."""
    checks = await asyncio.gather(database_health(lp), platform_object_store_health(lp))
    components = [
        *checks,
        *({"name": f"plugin:{s.key}", "ok": True, "loaded": s.impl.name} for s in lp.selection.all()),
    ]
    ok = all(c["ok"] for c in checks)
    return {"status": "ok" if ok else "unavailable", "components": components}


#: Runs waiting or in flight, by state, queue and workspace: the ``lakeplane_runs`` gauge.
ACTIVE_RUN_COUNTS = text(
    "SELECT state, queue, workspace_id, count(*) FROM runs"  # noqa: S608 - RunState names
    f" WHERE state IN ('{RunState.QUEUED}', '{RunState.RUNNING}')"
    " GROUP BY state, queue, workspace_id"
)


async def active_run_counts(db: AsyncSession) -> list[tuple[str, str, str, int]]:
    """``(state, queue, workspace_id, count)`` for every queued or running group."""
    return [(r[0], r[1], r[2], int(r[3])) for r in (await db.execute(ACTIVE_RUN_COUNTS)).all()]


async def audit_head(db: AsyncSession) -> int:
    """The sequence number of the audit chain's newest event (0 for none)."""
    return int(await db.scalar(text("SELECT max(seq) FROM audit_events")) or 0)
