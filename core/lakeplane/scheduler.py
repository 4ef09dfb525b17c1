"""The scheduler process: fires due schedule slots as runs.

Any number of schedulers may run. Each tick locks the due schedules it can get
(``FOR UPDATE SKIP LOCKED``), and for each slot claims it and submits the run in one
transaction; the SQL is in :mod:`lakeplane.domain.schedules.repository`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Callable

from lakeplane import metrics
from lakeplane.db.engine import is_outage
from lakeplane.domain import audit
from lakeplane.domain.runs.services import submit_run
from lakeplane.domain.schedules import repository
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
                schedule = await repository.lock_next_due(db, now)
                if schedule is None:
                    await db.rollback()
                    return fired
                # Every submit below commits this transaction: the fired slot, the
                # advanced next_fire_at and the run land together.
                for slot in repository.due_slots(schedule, now):
                    if not await repository.claim_slot(db, schedule.id, slot, now):
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
                    await repository.link_run(db, schedule.id, slot, run.id)
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
            await repository.record_failed_fire(db, ACTOR, schedule_id, slot, now, reason)


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
