"""Every operation the client knows, as a :class:`~lakeplane.client._core.Call` or a
:data:`~lakeplane.client._core.Flow` built from the arguments its resource method takes;
the wire types are the API's own schemas, so each is defined once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Never
from urllib.parse import quote

import msgspec

from lakeplane.client._core import Call, Emit, Flow, Pause, fields, get, pages, send
from lakeplane.client._core import idempotency_key as new_idempotency_key
from lakeplane.db.pagination import Page
from lakeplane.domain.auth.schemas import MeOut, SessionOut
from lakeplane.domain.connections.schemas import ConnectionOut, TestResult
from lakeplane.domain.datasets.schemas import DatasetDetail, DatasetOut
from lakeplane.domain.jobs.schemas import JobOut, JobVersionOut
from lakeplane.domain.runs import lifecycle
from lakeplane.domain.runs.schemas import ResultOut, RunLogOut, RunOut
from lakeplane.domain.schedules.schemas import FirePreview, ScheduleOut
from lakeplane.domain.tokens.schemas import TokenCreated
from lakeplane.domain.workspaces.schemas import WorkspaceOut

#: States a run never leaves.
TERMINAL: frozenset[str] = lifecycle.TERMINAL


class ScheduleDetail(msgspec.Struct):
    schedule: ScheduleOut
    upcoming: list[FirePreview]


def _seg(value: str) -> str:
    return quote(value, safe="")


def ws_path(ws: str) -> str:
    return f"/workspaces/{_seg(ws)}"


# auth
def login(username: str, password: str) -> Call[SessionOut]:
    # A 429 here is answered before the password is checked, so a retry is harmless.
    return send("POST", "/auth/login", SessionOut, {"username": username, "password": password})


def create_token(name: str, csrf: str | None, expires_in_days: int, scopes: list[str]) -> Call[TokenCreated]:
    body = {"name": name, "expires_in_days": expires_in_days, "scopes": scopes}
    return send("POST", "/tokens", TokenCreated, body, headers={"x-csrf-token": csrf} if csrf else None)


def logout(csrf: str) -> Call[None]:
    return send("POST", "/auth/logout", None, headers={"x-csrf-token": csrf})


def me() -> Call[MeOut]:
    return get("/auth/me", MeOut)


# workspaces
def list_workspaces(limit: int) -> Flow[WorkspaceOut, None]:
    return pages(lambda cursor: get("/workspaces", Page[WorkspaceOut], cursor=cursor, limit=limit))


def get_workspace(ws: str) -> Call[WorkspaceOut]:
    return get(ws_path(ws), WorkspaceOut)


def create_workspace(slug: str, name: str, description: str = "") -> Call[WorkspaceOut]:
    body = fields(slug=slug, name=name, description=description)
    return send("POST", "/workspaces", WorkspaceOut, body)


def update_workspace(ws: str, **changes: Any) -> Call[WorkspaceOut]:
    """``changes``: name, description."""
    return send("PATCH", ws_path(ws), WorkspaceOut, changes)


# connections
def list_connections(
    limit: int, ws: str, *, role: str | None = None, plugin: str | None = None
) -> Flow[ConnectionOut, None]:
    path = ws_path(ws) + "/connections"
    return pages(
        lambda cursor: get(path, Page[ConnectionOut], cursor=cursor, limit=limit, role=role, plugin=plugin)
    )


def get_connection(ws: str, conn_id: str) -> Call[ConnectionOut]:
    return get(f"{ws_path(ws)}/connections/{_seg(conn_id)}", ConnectionOut)


def create_connection(
    ws: str, name: str, role: str, plugin: str, params: dict[str, Any] | None = None, description: str = ""
) -> Call[ConnectionOut]:
    body = fields(name=name, role=role, plugin=plugin, params=params or {}, description=description)
    return send("POST", ws_path(ws) + "/connections", ConnectionOut, body)


def update_connection(ws: str, conn_id: str, **changes: Any) -> Call[ConnectionOut]:
    return send("PATCH", f"{ws_path(ws)}/connections/{_seg(conn_id)}", ConnectionOut, changes)


def delete_connection(ws: str, conn_id: str) -> Call[None]:
    return send("DELETE", f"{ws_path(ws)}/connections/{_seg(conn_id)}", None)


def test_connection(ws: str, conn_id: str) -> Call[TestResult]:
    return send("POST", f"{ws_path(ws)}/connections/{_seg(conn_id)}/test", TestResult)


# jobs
def list_jobs(limit: int, ws: str, *, include_archived: bool = False) -> Flow[JobOut, None]:
    archived = "true" if include_archived else None
    path = ws_path(ws) + "/jobs"
    return pages(
        lambda cursor: get(path, Page[JobOut], cursor=cursor, limit=limit, include_archived=archived)
    )


def get_job(ws: str, job_id: str) -> Call[JobOut]:
    return get(f"{ws_path(ws)}/jobs/{_seg(job_id)}", JobOut)


def create_job(ws: str, name: str, type: str, definition: dict[str, Any], **settings: Any) -> Call[JobOut]:
    """``settings``: the other fields of ``JobCreate`` (parameters, connection_id, queue, ...)."""
    body = {"name": name, "type": type, "definition": definition, **settings}
    return send("POST", ws_path(ws) + "/jobs", JobOut, body)


def update_job(ws: str, job_id: str, **changes: Any) -> Call[JobOut]:
    return send("PATCH", f"{ws_path(ws)}/jobs/{_seg(job_id)}", JobOut, changes)


def list_versions(limit: int, ws: str, job_id: str) -> Flow[JobVersionOut, None]:
    path = f"{ws_path(ws)}/jobs/{_seg(job_id)}/versions"
    return pages(lambda cursor: get(path, Page[JobVersionOut], cursor=cursor, limit=limit))


def get_version(ws: str, job_id: str, version: int) -> Call[JobVersionOut]:
    return get(f"{ws_path(ws)}/jobs/{_seg(job_id)}/versions/{int(version)}", JobVersionOut)


# runs
def submit_run(
    ws: str, job_id: str, parameters: dict[str, Any] | None = None, *, idempotency_key: str | None = None
) -> Call[RunOut]:
    """Queue a run. Every submit carries an ``Idempotency-Key`` (a new one unless given),
    so a retried request returns the run the first one made."""
    return send(
        "POST",
        f"{ws_path(ws)}/jobs/{_seg(job_id)}/runs",
        RunOut,
        {"parameters": parameters or {}},
        headers={"idempotency-key": idempotency_key or new_idempotency_key()},
        safe=True,
    )


def list_runs(
    limit: int,
    ws: str,
    *,
    state: str | None = None,
    job_id: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
) -> Flow[RunOut, None]:
    filters = {
        "state": state,
        "job_id": job_id,
        "created_after": created_after,
        "created_before": created_before,
    }
    path = ws_path(ws) + "/runs"
    return pages(lambda cursor: get(path, Page[RunOut], cursor=cursor, limit=limit, **filters))


def get_run(ws: str, run_id: str) -> Call[RunOut]:
    return get(f"{ws_path(ws)}/runs/{_seg(run_id)}", RunOut)


def stop_run(ws: str, run_id: str) -> Call[RunOut]:
    return send("POST", f"{ws_path(ws)}/runs/{_seg(run_id)}/stop", RunOut, safe=True)


def rerun(ws: str, run_id: str, parameters: dict[str, Any] | None = None) -> Call[RunOut]:
    body = {"parameters": parameters or {}}
    return send("POST", f"{ws_path(ws)}/runs/{_seg(run_id)}/rerun", RunOut, body)


def run_logs(ws: str, run_id: str, offset: int = 0) -> Call[RunLogOut]:
    return get(f"{ws_path(ws)}/runs/{_seg(run_id)}/logs", RunLogOut, offset=offset)


def follow_logs(ws: str, run_id: str, *, poll: float = 1.0) -> Flow[str, None]:
    """Log text as it arrives, until the run is over and its whole log has been read."""
    offset, seen, source = 0, 0, None
    while True:
        chunk: RunLogOut = yield run_logs(ws, run_id, offset)
        if source == "database" and chunk.source != source:
            # The ended run's stored copy counts bytes, not line ids: read on from what was shown.
            chunk = yield run_logs(ws, run_id, seen)
        source = chunk.source
        if chunk.text:
            seen += len(chunk.text.encode())
            yield Emit(chunk.text)
        if chunk.complete:
            return
        offset = chunk.offset
        if not chunk.text:
            yield Pause(poll)


def run_result(ws: str, run_id: str) -> Call[ResultOut]:
    return get(f"{ws_path(ws)}/runs/{_seg(run_id)}/result", ResultOut)


def wait(
    ws: str,
    run_id: str,
    *,
    timeout: float | None = None,
    poll: float = 1.0,
    on_update: Callable[[RunOut], None] | None = None,
) -> Flow[Never, RunOut]:
    """Poll until the run is terminal and return it; ``on_update`` sees every poll.
    Raises TimeoutError after ``timeout`` seconds (the run goes on)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run: RunOut = yield get_run(ws, run_id)
        if on_update is not None:
            on_update(run)
        if run.state in TERMINAL:
            return run
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"run {run_id} is still {run.state} after {timeout} s")
        yield Pause(poll)


# datasets
def list_datasets(
    limit: int, ws: str, *, tag: str | None = None, owner: str | None = None, q: str | None = None
) -> Flow[DatasetOut, None]:
    path = ws_path(ws) + "/datasets"
    return pages(
        lambda cursor: get(path, Page[DatasetOut], cursor=cursor, limit=limit, tag=tag, owner=owner, q=q)
    )


def get_dataset(ws: str, dataset_id: str) -> Call[DatasetDetail]:
    return get(f"{ws_path(ws)}/datasets/{_seg(dataset_id)}", DatasetDetail)


def create_dataset(ws: str, name: str, owner: str, **settings: Any) -> Call[DatasetOut]:
    """``settings``: location, or connection_id with namespace and table; tags, description."""
    body = {"name": name, "owner": owner, **settings}
    return send("POST", ws_path(ws) + "/datasets", DatasetOut, body)


def update_dataset(ws: str, dataset_id: str, **changes: Any) -> Call[DatasetOut]:
    return send("PATCH", f"{ws_path(ws)}/datasets/{_seg(dataset_id)}", DatasetOut, changes)


def delete_dataset(ws: str, dataset_id: str) -> Call[None]:
    return send("DELETE", f"{ws_path(ws)}/datasets/{_seg(dataset_id)}", None)


# schedules
def list_schedules(limit: int, ws: str, *, job_id: str | None = None) -> Flow[ScheduleOut, None]:
    path = ws_path(ws) + "/schedules"
    return pages(lambda cursor: get(path, Page[ScheduleOut], cursor=cursor, limit=limit, job_id=job_id))


def get_schedule(ws: str, schedule_id: str) -> Call[ScheduleDetail]:
    return get(f"{ws_path(ws)}/schedules/{_seg(schedule_id)}", ScheduleDetail)


def create_schedule(ws: str, job_id: str, cron: str, **settings: Any) -> Call[ScheduleOut]:
    """``settings``: timezone, parameters, misfire_policy, paused."""
    body = {"job_id": job_id, "cron": cron, **settings}
    return send("POST", ws_path(ws) + "/schedules", ScheduleOut, body)


def update_schedule(ws: str, schedule_id: str, **changes: Any) -> Call[ScheduleOut]:
    return send("PATCH", f"{ws_path(ws)}/schedules/{_seg(schedule_id)}", ScheduleOut, changes)


def _schedule_action(ws: str, schedule_id: str, action: str) -> Call[ScheduleOut]:
    return send("POST", f"{ws_path(ws)}/schedules/{_seg(schedule_id)}/{action}", ScheduleOut, safe=True)


def pause_schedule(ws: str, schedule_id: str) -> Call[ScheduleOut]:
    return _schedule_action(ws, schedule_id, "pause")


def resume_schedule(ws: str, schedule_id: str) -> Call[ScheduleOut]:
    return _schedule_action(ws, schedule_id, "resume")


def delete_schedule(ws: str, schedule_id: str) -> Call[None]:
    return send("DELETE", f"{ws_path(ws)}/schedules/{_seg(schedule_id)}", None)
