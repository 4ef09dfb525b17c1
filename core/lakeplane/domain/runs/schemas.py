from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec


class RunSubmit(msgspec.Struct, forbid_unknown_fields=True):
    parameters: dict[str, Any] = {}


class RerunRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Values given here replace the original run's parameters; the rest are kept."""

    parameters: dict[str, Any] = {}


class TransitionOut(msgspec.Struct):
    attempt: int
    from_state: str | None
    to_state: str
    reason: str | None
    worker: str | None
    at: dt.datetime


class RunOut(msgspec.Struct):
    id: str
    workspace_id: str
    job_id: str
    job_version_id: str
    state: str
    queue: str
    parameters: dict[str, Any]
    attempt: int
    max_attempts: int
    stop_requested: bool
    stats: dict[str, Any]
    created_at: dt.datetime
    idempotency_key: str | None = None
    rerun_of: str | None = None
    schedule_id: str | None = None
    submitted_by: str | None = None
    waiting_for: str | None = None
    reason: str | None = None
    engine: str | None = None
    engine_id: str | None = None
    lease_owner: str | None = None
    lease_expires_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    deadline_at: dt.datetime | None = None
    row_count: int | None = None
    log_uri: str | None = None
    log_sha256: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    transitions: list[TransitionOut] | None = None


class RunLogOut(msgspec.Struct):
    text: str
    #: Pass back as ``offset`` to read on; its meaning depends on ``source``.
    offset: int
    #: ``database`` while the run is live (offset: last line id), ``object_store`` after (byte offset).
    source: str
    #: True once the run is terminal and this is the whole log.
    complete: bool


class ResultOut(msgspec.Struct):
    run_id: str
    row_count: int | None
    columns: list[dict[str, Any]]
    rows: list[list[Any]]
