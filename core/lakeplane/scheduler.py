"""The scheduler process: fires due schedule slots as runs.

Any number of schedulers may run. Each tick locks the due schedules it can get
(``FOR UPDATE SKIP LOCKED``), and for each slot inserts a ``schedule_fires`` row
and submits the run in one transaction. The (schedule, slot) primary key means a
slot fires at most once, whichever scheduler gets there first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from lakeplane import metrics
from lakeplane.db.engine import is_outage
from lakeplane.db.models import Schedule, ScheduleFire
from lakeplane.domain import audit
from lakeplane.domain.runs.services import submit_run
from lakeplane.domain.schedules.services import MAX_CATCH_UP, next_after, slots_between
from lakeplane.errors import LakeplaneError
from lakeplane.liveness import Heartbeat
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow

log = logging.getLogger("lakeplane.scheduler")
ACTOR = audit.Actor.system("scheduler")


class Scheduler:
    def __init__(
        self,
        lp: Services,
        clock: Callable[[], dt.datetime] = utcnow,
        tick_s: float = 1.0,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.lp = lp
        self.liveness = heartbeat or Heartbeat(None)
        self.clock = clock
        self.tick_s = tick_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run_forever(self) -> None:
        while not self._stopping.is_set():
            self.liveness.beat()
            try:
                await self.tick()
            except Exception as exc:  # one bad tick must not end the process
                if is_outage(exc):
                    log.warning("metadata database unavailable; retrying")
                else:
                    log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick_s)

    async def tick(self) -> int:
        """Fire every due slot this process can lock; returns how many runs it submitted."""
        now = self.clock()
        fired = 0
        while True:
            async with self.lp.sessions() as db:
                schedule = await db.scalar(
                    select(Schedule)
                    .where(Schedule.paused.is_(False), Schedule.next_fire_at <= now)
                    .order_by(Schedule.next_fire_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if schedule is None:
                    await db.rollback()
                    return fired
                assert schedule.next_fire_at is not None
                slots = slots_between(schedule.cron, schedule.timezone, schedule.next_fire_at, now)
                slots = slots[-1:] if schedule.misfire_policy == "skip" else slots[-MAX_CATCH_UP:]
                schedule.next_fire_at = next_after(schedule.cron, schedule.timezone, max([now, *slots]))
                # Every submit below commits this transaction: the fired slot, the
                # advanced next_fire_at and the run land together.
                for slot in slots:
                    inserted = await db.scalar(
                        insert(ScheduleFire)
                        .values(schedule_id=schedule.id, slot=slot, fired_at=now)
                        .on_conflict_do_nothing()
                        .returning(ScheduleFire.slot)
                    )
                    if inserted is None:
                        continue
                    schedule.last_fired_at = slot
                    try:
                        run = await submit_run(
                            db,
                            self.lp,
                            ACTOR,
                            schedule.workspace_id,
                            schedule.job_id,
                            dict(schedule.parameters),
                            idempotency_key=f"schedule:{schedule.id}:{slot.isoformat()}",
                            schedule_id=schedule.id,
                        )
                    except LakeplaneError as exc:
                        await db.rollback()
                        await self._record_failure(schedule.id, slot, now, exc.detail)
                        break
                    await db.execute(
                        update(ScheduleFire)
                        .where(ScheduleFire.schedule_id == schedule.id, ScheduleFire.slot == slot)
                        .values(run_id=run.id)
                    )
                    await db.commit()
                    metrics.SCHEDULER_LAG.observe(max(0.0, (self.clock() - slot).total_seconds()))
                    fired += 1
                await db.commit()

    async def _record_failure(
        self, schedule_id: str, slot: dt.datetime, now: dt.datetime, reason: str
    ) -> None:
        """Mark the slot fired without a run, move on, and say why in the audit log."""
        log.warning("schedule %s slot %s not submitted: %s", schedule_id, slot.isoformat(), reason)
        async with self.lp.sessions() as db, db.begin():
            schedule = await db.get(Schedule, schedule_id, with_for_update=True)
            if schedule is None:
                return
            schedule.next_fire_at = next_after(schedule.cron, schedule.timezone, max(now, slot))
            await db.execute(
                insert(ScheduleFire)
                .values(schedule_id=schedule_id, slot=slot, fired_at=now)
                .on_conflict_do_nothing()
            )
            await audit.record(
                db,
                ACTOR,
                audit.Entry(
                    "schedule.fire",
                    target_type="schedule",
                    target_id=schedule_id,
                    workspace_id=schedule.workspace_id,
                    outcome="failure",
                    details={"slot": slot.isoformat(), "reason": reason},
                ),
            )


async def serve(lp: Services, heartbeat: Heartbeat | None = None) -> None:
    scheduler = Scheduler(lp, heartbeat=heartbeat)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, scheduler.stop)
    log.info("scheduler started")
    try:
        await scheduler.run_forever()
    finally:
        await lp.engine.dispose()
