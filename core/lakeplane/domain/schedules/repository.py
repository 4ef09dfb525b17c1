"""The scheduler's SQL: the due schedule it may fire, the slots it claims and how a failed
fire is recorded. The scheduler process (:mod:`lakeplane.scheduler`) only calls these.

A slot is claimed by inserting its ``schedule_fires`` row: the (schedule, slot) primary key
means a slot fires at most once, whichever scheduler gets there first.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Schedule, ScheduleFire
from lakeplane.domain import audit
from lakeplane.domain.schedules.services import MAX_CATCH_UP, next_after, slots_between


async def lock_next_due(db: AsyncSession, now: dt.datetime) -> Schedule | None:
    """The earliest due, unpaused schedule no other scheduler holds, locked until commit."""
    return await db.scalar(
        select(Schedule)
        .where(Schedule.paused.is_(False), Schedule.next_fire_at <= now)
        .order_by(Schedule.next_fire_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def due_slots(schedule: Schedule, now: dt.datetime) -> list[dt.datetime]:
    """The slots to fire now, by the misfire policy, and ``next_fire_at`` moved past them."""
    assert schedule.next_fire_at is not None
    slots = slots_between(schedule.cron, schedule.timezone, schedule.next_fire_at, now)
    slots = slots[-1:] if schedule.misfire_policy == "skip" else slots[-MAX_CATCH_UP:]
    schedule.next_fire_at = next_after(schedule.cron, schedule.timezone, max([now, *slots]))
    return slots


async def claim_slot(db: AsyncSession, schedule_id: str, slot: dt.datetime, now: dt.datetime) -> bool:
    """Whether this transaction is the one that fires ``slot``."""
    inserted = await db.scalar(
        insert(ScheduleFire)
        .values(schedule_id=schedule_id, slot=slot, fired_at=now)
        .on_conflict_do_nothing()
        .returning(ScheduleFire.slot)
    )
    return inserted is not None


async def link_run(db: AsyncSession, schedule_id: str, slot: dt.datetime, run_id: str) -> None:
    await db.execute(
        update(ScheduleFire)
        .where(ScheduleFire.schedule_id == schedule_id, ScheduleFire.slot == slot)
        .values(run_id=run_id)
    )


async def record_failed_fire(
    db: AsyncSession, actor: audit.Actor, schedule_id: str, slot: dt.datetime, now: dt.datetime, reason: str
) -> None:
    """Mark the slot fired without a run, move the schedule on, and audit why; in ``db``'s
    current transaction."""
    schedule = await db.get(Schedule, schedule_id, with_for_update=True)
    if schedule is None:
        return
    schedule.next_fire_at = next_after(schedule.cron, schedule.timezone, max(now, slot))
    await db.execute(
        insert(ScheduleFire).values(schedule_id=schedule_id, slot=slot, fired_at=now).on_conflict_do_nothing()
    )
    details = {"slot": slot.isoformat(), "reason": reason}
    entry = audit.Entry.on(
        "schedule.fire", schedule_id, schedule.workspace_id, outcome="failure", details=details
    )
    await audit.record(db, actor, entry)
