from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

Cron = Annotated[str, msgspec.Meta(min_length=9, max_length=100, pattern=r"^[0-9A-Za-z*/,\- ?#LW]+$")]
TimeZone = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]
Misfire = Literal["skip", "all"]


class ScheduleCreate(msgspec.Struct, forbid_unknown_fields=True):
    job_id: str
    cron: Cron
    timezone: TimeZone = "UTC"
    parameters: dict[str, Any] = {}
    #: After downtime: ``skip`` fires only the latest missed slot, ``all`` fires each (at most 100).
    misfire_policy: Misfire = "skip"
    paused: bool = False


class ScheduleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    cron: Cron | None = None
    timezone: TimeZone | None = None
    parameters: dict[str, Any] | None = None
    misfire_policy: Misfire | None = None


class ScheduleOut(msgspec.Struct):
    id: str
    workspace_id: str
    job_id: str
    cron: str
    timezone: str
    parameters: dict[str, Any]
    misfire_policy: str
    paused: bool
    next_fire_at: dt.datetime | None
    last_fired_at: dt.datetime | None
    created_at: dt.datetime


class FirePreview(msgspec.Struct):
    at: dt.datetime
    local: str
