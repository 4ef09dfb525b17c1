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

from croniter import CroniterBadCronError, croniter
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Schedule
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit
from lakeplane.domain.etags import check_if_match
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.schedules.schemas import FirePreview, ScheduleCreate, ScheduleOut, ScheduleUpdate
from lakeplane.errors import NotFound, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.timeutil import utcnow

MAX_CATCH_UP = 100


def to_out(s: Schedule | Row[Any]) -> ScheduleOut:
    return ScheduleOut(
        id=s.id,
        workspace_id=s.workspace_id,
        job_id=s.job_id,
        cron=s.cron,
        timezone=s.timezone,
        parameters=dict(s.parameters),
        misfire_policy=s.misfire_policy,
        paused=s.paused,
        next_fire_at=s.next_fire_at,
        last_fired_at=s.last_fired_at,
        created_at=s.created_at,
    )


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
        job_id=job.id,
        cron=data.cron,
        timezone=data.timezone,
        parameters=data.parameters,
        misfire_policy=data.misfire_policy,
        paused=data.paused,
        next_fire_at=next_after(data.cron, data.timezone, utcnow()),
        created_by=actor.id,
    )
    async with db.begin():
        db.add(schedule)
        await db.flush()
        await audit.record(
            db,
            actor,
            audit.Entry(
                "schedule.create",
                target_type="schedule",
                target_id=schedule.id,
                workspace_id=workspace_id,
                details={"job_id": job.id, "cron": data.cron, "timezone": data.timezone},
            ),
        )
    return schedule


async def get(db: AsyncSession, workspace_id: str, schedule_id: str, *, for_update: bool = False) -> Schedule:
    query = select(Schedule).where(Schedule.workspace_id == workspace_id, Schedule.id == schedule_id)
    found = await db.scalar(query.with_for_update() if for_update else query)
    if found is None:
        raise NotFound(f"schedule {schedule_id!r} not found in this workspace")
    return found


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
        schedule = await get(db, workspace_id, schedule_id, for_update=True)
        check_if_match(if_match, to_out(schedule), f"schedule {schedule_id!r}")
        changed = []
        for field in ("cron", "timezone", "parameters", "misfire_policy"):
            value = getattr(data, field)
            if value is not None and value != getattr(schedule, field):
                setattr(schedule, field, value)
                changed.append(field)
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
            audit.Entry(
                "schedule.update",
                target_type="schedule",
                target_id=schedule.id,
                workspace_id=workspace_id,
                details={"changed": changed},
            ),
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
        await audit.record(
            db,
            actor,
            audit.Entry(
                "schedule.pause" if paused else "schedule.resume",
                target_type="schedule",
                target_id=schedule.id,
                workspace_id=workspace_id,
            ),
        )
    return schedule


async def delete(
    db: AsyncSession, actor: audit.Actor, workspace_id: str, schedule_id: str, if_match: str | None = None
) -> None:
    async with db.begin():
        schedule = await get(db, workspace_id, schedule_id, for_update=True)
        check_if_match(if_match, to_out(schedule), f"schedule {schedule_id!r}")
        await db.delete(schedule)
        await audit.record(
            db,
            actor,
            audit.Entry(
                "schedule.delete",
                target_type="schedule",
                target_id=schedule.id,
                workspace_id=workspace_id,
            ),
        )


async def list_schedules(
    db: AsyncSession, workspace_id: str, job_id: str | None, cursor: str | None, limit: int
) -> Sequence[Row[Any]]:
    query = select_rows(Schedule).where(Schedule.workspace_id == workspace_id)
    if job_id:
        query = query.where(Schedule.job_id == job_id)
    return await fetch_page(db, query, Schedule.id, cursor, limit)
