"""Every operation the client knows, as a :class:`~lakeplane.client._core.Call`; the wire
types are the API's own schemas, so each is defined once."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec

from lakeplane.client._core import Call, get, idempotency_key, send
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
def list_workspaces(cursor: str | None, limit: int) -> Call[Page[WorkspaceOut]]:
    return get("/workspaces", Page[WorkspaceOut], cursor=cursor, limit=limit)


def get_workspace(ws: str) -> Call[WorkspaceOut]:
    return get(ws_path(ws), WorkspaceOut)


def create_workspace(body: dict[str, Any]) -> Call[WorkspaceOut]:
    return send("POST", "/workspaces", WorkspaceOut, body)


def update_workspace(ws: str, body: dict[str, Any]) -> Call[WorkspaceOut]:
    return send("PATCH", ws_path(ws), WorkspaceOut, body)


# connections
def list_connections(ws: str, cursor: str | None, limit: int, **filters: Any) -> Call[Page[ConnectionOut]]:
    return get(ws_path(ws) + "/connections", Page[ConnectionOut], cursor=cursor, limit=limit, **filters)


def get_connection(ws: str, conn_id: str) -> Call[ConnectionOut]:
    return get(f"{ws_path(ws)}/connections/{_seg(conn_id)}", ConnectionOut)


def create_connection(ws: str, body: dict[str, Any]) -> Call[ConnectionOut]:
    return send("POST", ws_path(ws) + "/connections", ConnectionOut, body)


def update_connection(ws: str, conn_id: str, body: dict[str, Any]) -> Call[ConnectionOut]:
    return send("PATCH", f"{ws_path(ws)}/connections/{_seg(conn_id)}", ConnectionOut, body)


def delete_connection(ws: str, conn_id: str) -> Call[None]:
    return send("DELETE", f"{ws_path(ws)}/connections/{_seg(conn_id)}", None)


def test_connection(ws: str, conn_id: str) -> Call[TestResult]:
    return send("POST", f"{ws_path(ws)}/connections/{_seg(conn_id)}/test", TestResult)


# jobs
def list_jobs(ws: str, cursor: str | None, limit: int, include_archived: bool) -> Call[Page[JobOut]]:
    return get(
        ws_path(ws) + "/jobs",
        Page[JobOut],
        cursor=cursor,
        limit=limit,
        include_archived="true" if include_archived else None,
    )


def get_job(ws: str, job_id: str) -> Call[JobOut]:
    return get(f"{ws_path(ws)}/jobs/{_seg(job_id)}", JobOut)


def create_job(ws: str, body: dict[str, Any]) -> Call[JobOut]:
    return send("POST", ws_path(ws) + "/jobs", JobOut, body)


def update_job(ws: str, job_id: str, body: dict[str, Any]) -> Call[JobOut]:
    return send("PATCH", f"{ws_path(ws)}/jobs/{_seg(job_id)}", JobOut, body)


def list_versions(ws: str, job_id: str, cursor: str | None, limit: int) -> Call[Page[JobVersionOut]]:
    return get(f"{ws_path(ws)}/jobs/{_seg(job_id)}/versions", Page[JobVersionOut], cursor=cursor, limit=limit)


def get_version(ws: str, job_id: str, version: int) -> Call[JobVersionOut]:
    return get(f"{ws_path(ws)}/jobs/{_seg(job_id)}/versions/{int(version)}", JobVersionOut)


# runs
def submit_run(ws: str, job_id: str, parameters: dict[str, Any], key: str | None) -> Call[RunOut]:
    return send(
        "POST",
        f"{ws_path(ws)}/jobs/{_seg(job_id)}/runs",
        RunOut,
        {"parameters": parameters},
        headers={"idempotency-key": key or idempotency_key()},
        safe=True,
    )


def list_runs(ws: str, cursor: str | None, limit: int, **filters: Any) -> Call[Page[RunOut]]:
    return get(ws_path(ws) + "/runs", Page[RunOut], cursor=cursor, limit=limit, **filters)


def get_run(ws: str, run_id: str) -> Call[RunOut]:
    return get(f"{ws_path(ws)}/runs/{_seg(run_id)}", RunOut)


def stop_run(ws: str, run_id: str) -> Call[RunOut]:
    return send("POST", f"{ws_path(ws)}/runs/{_seg(run_id)}/stop", RunOut, safe=True)


def rerun(ws: str, run_id: str, parameters: dict[str, Any]) -> Call[RunOut]:
    return send("POST", f"{ws_path(ws)}/runs/{_seg(run_id)}/rerun", RunOut, {"parameters": parameters})


def run_logs(ws: str, run_id: str, offset: int) -> Call[RunLogOut]:
    return get(f"{ws_path(ws)}/runs/{_seg(run_id)}/logs", RunLogOut, offset=offset)


def run_result(ws: str, run_id: str) -> Call[ResultOut]:
    return get(f"{ws_path(ws)}/runs/{_seg(run_id)}/result", ResultOut)


# datasets
def list_datasets(ws: str, cursor: str | None, limit: int, **filters: Any) -> Call[Page[DatasetOut]]:
    return get(ws_path(ws) + "/datasets", Page[DatasetOut], cursor=cursor, limit=limit, **filters)


def get_dataset(ws: str, dataset_id: str) -> Call[DatasetDetail]:
    return get(f"{ws_path(ws)}/datasets/{_seg(dataset_id)}", DatasetDetail)


def create_dataset(ws: str, body: dict[str, Any]) -> Call[DatasetOut]:
    return send("POST", ws_path(ws) + "/datasets", DatasetOut, body)


def update_dataset(ws: str, dataset_id: str, body: dict[str, Any]) -> Call[DatasetOut]:
    return send("PATCH", f"{ws_path(ws)}/datasets/{_seg(dataset_id)}", DatasetOut, body)


def delete_dataset(ws: str, dataset_id: str) -> Call[None]:
    return send("DELETE", f"{ws_path(ws)}/datasets/{_seg(dataset_id)}", None)


# schedules
def list_schedules(ws: str, cursor: str | None, limit: int, job_id: str | None) -> Call[Page[ScheduleOut]]:
    return get(ws_path(ws) + "/schedules", Page[ScheduleOut], cursor=cursor, limit=limit, job_id=job_id)


def get_schedule(ws: str, schedule_id: str) -> Call[ScheduleDetail]:
    return get(f"{ws_path(ws)}/schedules/{_seg(schedule_id)}", ScheduleDetail)


def create_schedule(ws: str, body: dict[str, Any]) -> Call[ScheduleOut]:
    return send("POST", ws_path(ws) + "/schedules", ScheduleOut, body)


def update_schedule(ws: str, schedule_id: str, body: dict[str, Any]) -> Call[ScheduleOut]:
    return send("PATCH", f"{ws_path(ws)}/schedules/{_seg(schedule_id)}", ScheduleOut, body)


def pause_schedule(ws: str, schedule_id: str, paused: bool) -> Call[ScheduleOut]:
    action = "pause" if paused else "resume"
    return send("POST", f"{ws_path(ws)}/schedules/{_seg(schedule_id)}/{action}", ScheduleOut, safe=True)


def delete_schedule(ws: str, schedule_id: str) -> Call[None]:
    return send("DELETE", f"{ws_path(ws)}/schedules/{_seg(schedule_id)}", None)
