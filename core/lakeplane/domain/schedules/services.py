"""Schedules: a cron expression in a time zone that submits runs of a job.

Each fired slot is a row in ``schedule_fires`` whose primary key is (schedule, slot),
written in the same transaction as the run it submits, so two schedulers can never
fire one slot twice. Missed slots after downtime follow the schedule's
``misfire_policy``: ``skip`` fires only the most recent, ``all`` fires each one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any

import msgspec
from croniter import CroniterBadCronError, croniter
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Schedule
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.schedules.schemas import FirePreview, ScheduleCreate, ScheduleOut, ScheduleUpdate
from lakeplane.errors import ValidationFailed
from lakeplane.ids import new_id
from lakeplane.timeutil import utcnow

MAX_CATCH_UP = 100


def to_out(s: Schedule | Row[Any]) -> ScheduleOut:
    return resources.to_struct(ScheduleOut, s, parameters=dict(s.parameters))


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"unknown time zone {name!r}", [{"field": "timezone", "message": "unknown"}]
        ) from None


def check_cron(expr: str) -> None:
    if len(expr.split()) != 5:
        raise ValidationFailed(
            "cron needs 5 fields: minute hour day month weekday", [{"field": "cron", "message": "5 fields"}]
        )
    try:
        croniter(expr)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ValidationFailed(
            f"invalid cron expression: {exc}", [{"field": "cron", "message": "invalid"}]
        ) from None


def next_after(expr: str, tz: str, after: dt.datetime) -> dt.datetime:
    """The first slot strictly after ``after``, computed in ``tz`` (DST-aware), returned in UTC."""
    local = after.astimezone(zone(tz))
    nxt: dt.datetime = croniter(expr, local).get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)


def slots_between(expr: str, tz: str, first: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Slots from ``first`` (itself a slot) up to and including ``until``."""
    slots: list[dt.datetime] = []
    slot = first
    while slot <= until and len(slots) < 10 * MAX_CATCH_UP:
        slots.append(slot)
        slot = next_after(expr, tz, slot)
    return slots


def preview(expr: str, tz: str, count: int = 5, after: dt.datetime | None = None) -> list[FirePreview]:
    check_cron(expr)
    at = after or utcnow()
    out = []
    for _ in range(count):
        at = next_after(expr, tz, at)
        out.append(FirePreview(at=at, local=at.astimezone(zone(tz)).isoformat()))
    return out


async def create(db: AsyncSession, actor: audit.Actor, workspace_id: str, data: ScheduleCreate) -> Schedule:
    check_cron(data.cron)
    zone(data.timezone)
    job = await jobs.get(db, workspace_id, data.job_id)
    version = await jobs.get_version(db, job.id, job.current_version)
    jobs.check_parameters(version.parameters, data.parameters)
    await db.commit()  # end the read before the slow call; keeps loaded rows usable
    schedule = Schedule(
        id=new_id("sch"),
        workspace_id=workspace_id,
        next_fire_at=next_after(data.cron, data.timezone, utcnow()),
        created_by=actor.id,
        # Each field of the request is a column of the same name.
        **msgspec.structs.asdict(data),
    )
    details = {"job_id": job.id, "cron": data.cron, "timezone": data.timezone}
    await resources.insert(
        db, actor, audit.Entry.on("schedule.create", schedule.id, workspace_id, details=details), schedule
    )
    return schedule


async def get(db: AsyncSession, workspace_id: str, schedule_id: str, *, for_update: bool = False) -> Schedule:
    return await resources.get(db, Schedule, workspace_id, schedule_id, "schedule", for_update=for_update)


async def update(
    db: AsyncSession,
    actor: audit.Actor,
    workspace_id: str,
    schedule_id: str,
    data: ScheduleUpdate,
    if_match: str | None = None,
) -> Schedule:
    if data.cron is not None:
        check_cron(data.cron)
    if data.timezone is not None:
        zone(data.timezone)
    async with db.begin():
        schedule = await resources.locked(
            db, Schedule, workspace_id, schedule_id, "schedule", if_match, to_out
        )
        changed = resources.apply(schedule, **msgspec.structs.asdict(data))
        if data.parameters is not None:
            job = await jobs.get(db, workspace_id, schedule.job_id)
            jobs.check_parameters(
                (await jobs.get_version(db, job.id, job.current_version)).parameters, data.parameters
            )
        if {"cron", "timezone"} & set(changed):
            schedule.next_fire_at = next_after(schedule.cron, schedule.timezone, utcnow())
        schedule.updated_at = utcnow()
        await audit.record(
            db,
            actor,
            audit.Entry.on("schedule.update", schedule.id, workspace_id, details={"changed": changed}),
        )
    return schedule


async def set_paused(
    db: AsyncSession, actor: audit.Actor, workspace_id: str, schedule_id: str, paused: bool
) -> Schedule:
    async with db.begin():
        schedule = await get(db, workspace_id, schedule_id)
        schedule.paused = paused
        if not paused:
            # Resuming does not replay what was missed while paused.
            schedule.next_fire_at = next_after(schedule.cron, schedule.timezone, utcnow())
        action = "schedule.pause" if paused else "schedule.resume"
        await audit.record(db, actor, audit.Entry.on(action, schedule.id, workspace_id))
    return schedule


async def delete(
    db: AsyncSession, actor: audit.Actor, workspace_id: str, schedule_id: str, if_match: str | None = None
) -> None:
    async with db.begin():
        schedule = await resources.locked(
            db, Schedule, workspace_id, schedule_id, "schedule", if_match, to_out
        )
        await db.delete(schedule)
        await audit.record(db, actor, audit.Entry.on("schedule.delete", schedule.id, workspace_id))


async def list_schedules(
    db: AsyncSession, workspace_id: str, job_id: str | None, cursor: str | None, limit: int
) -> Sequence[Row[Any]]:
    query = select_rows(Schedule).where(Schedule.workspace_id == workspace_id)
    if job_id:
        query = query.where(Schedule.job_id == job_id)
    return await fetch_page(db, query, Schedule.id, cursor, limit)
