"""Prometheus metrics of the control plane, and the listener that serves them.

``/metrics`` is never on the API's public port: each process (API, worker, scheduler) serves
its registry on a listener of its own, ``[metrics] host`` and ``port`` (off unless
``[metrics] enabled``). The API adds Litestar's HTTP metrics, labelled by route template.

Labels are bounded: queues come from the config, job types and plugins from the installed
plugins, outcomes from the run states, and workspaces are capped at
:data:`MAX_WORKSPACE_LABELS` (the rest are counted under ``other``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from sqlalchemy import text

from lakeplane.domain.runs.lifecycle import RunState
from lakeplane.errors import ConfigError

log = logging.getLogger("lakeplane.metrics")

MAX_WORKSPACE_LABELS = 50
SAMPLE_INTERVAL_S = 15.0
_DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
_WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

RUNS = Gauge("lakeplane_runs", "Runs queued or running now", ["state", "queue", "workspace"])
RUN_DURATION = Histogram(
    "lakeplane_run_duration_seconds",
    "Time from an attempt's start to its recorded outcome",
    ["job_type", "outcome"],
    buckets=_DURATION_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "lakeplane_run_queue_wait_seconds",
    "Time from submit to the first start",
    ["queue"],
    buckets=_WAIT_BUCKETS,
)
LEASE_LOSSES = Counter("lakeplane_lease_losses_total", "Attempts that lost their lease to another worker")
ADOPTIONS = Counter("lakeplane_lease_adoptions_total", "Runs adopted after their worker's lease expired")
ENGINE_ERRORS = Counter("lakeplane_engine_errors_total", "Engine calls that failed", ["plugin"])
SCHEDULER_LAG = Histogram(
    "lakeplane_scheduler_lag_seconds", "Time from a schedule slot to its run's submit", buckets=_WAIT_BUCKETS
)
AUDIT_HEAD = Gauge("lakeplane_audit_head_seq", "Sequence number of the audit chain's head")


def serve(host: str, port: int) -> None:
    """Serve the process's registry on ``host:port`` (a daemon thread)."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError("metrics", f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    log.info("metrics on http://%s:%d/metrics", host, port)


async def sample(lp: Any) -> None:
    """Set the gauges that come from the database; one query each."""
    async with lp.sessions() as db:
        rows = (
            await db.execute(
                text(
                    "SELECT state, queue, workspace_id, count(*) FROM runs"  # noqa: S608 - RunState names
                    f" WHERE state IN ('{RunState.QUEUED}', '{RunState.RUNNING}')"
                    " GROUP BY state, queue, workspace_id"
                )
            )
        ).all()
        head = await db.scalar(text("SELECT max(seq) FROM audit_events"))
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for state, queue, workspace, count in rows:
        totals.setdefault((state, queue), {})[workspace] = int(count)
    RUNS.clear()
    for (state, queue), by_workspace in totals.items():
        ranked = sorted(by_workspace.items(), key=lambda item: -item[1])
        other = 0
        for index, (workspace, count) in enumerate(ranked):
            if index < MAX_WORKSPACE_LABELS:
                RUNS.labels(state, queue, workspace).set(count)
            else:
                other += count
        if other:
            RUNS.labels(state, queue, "other").set(other)
    AUDIT_HEAD.set(int(head or 0))


async def sample_forever(lp: Any, interval_s: float = SAMPLE_INTERVAL_S) -> None:
    while True:
        try:
            await sample(lp)
        except Exception as exc:  # a database outage must not end the process
            log.debug("metrics sample failed: %s", exc)
        await asyncio.sleep(interval_s)


def start(lp: Any, *, sample_database: bool = True) -> asyncio.Task[None] | None:
    """Start the listener (if enabled) and, in a running loop, the database sampler."""
    settings = getattr(lp.config, "metrics", None)
    if settings is None or not settings.enabled:
        return None
    serve(settings.host, settings.port)
    if not sample_database:
        return None
    return asyncio.get_running_loop().create_task(sample_forever(lp), name="metrics")
