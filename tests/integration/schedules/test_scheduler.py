"""Schedules: DST-aware slots, preview, pause/resume, and no double fire between two schedulers."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import Any

from sqlalchemy import func, select, update

from lakeplane.db.models import Run, Schedule, ScheduleFire
from lakeplane.domain.schedules.services import next_after, slots_between
from lakeplane.scheduler import Scheduler


async def make_job(client: Any) -> tuple[str, str]:
    ws = (
        await client.post("/api/v1/workspaces", json={"slug": "sch-" + secrets.token_hex(4), "name": "s"})
    ).json()
    job = await client.post(
        f"/api/v1/workspaces/{ws['id']}/jobs",
        json={
            "name": "tick",
            "type": "noop",
            "definition": {},
            "parameters": [{"name": "n", "type": "integer", "default": 1}],
        },
    )
    assert job.status_code == 201, job.text
    return ws["id"], job.json()["id"]


def test_slots_follow_local_time_across_dst() -> None:
    # 02:30 local does not exist on 2026-03-29 in Berlin; 01:30 local is 00:30 UTC in winter.
    after = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)
    first = next_after("30 1 * * *", "Europe/Berlin", after)
    second = next_after("30 1 * * *", "Europe/Berlin", first)
    assert first == dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)  # CET, UTC+1
    assert second == dt.datetime(2026, 3, 29, 23, 30, tzinfo=dt.UTC)  # CEST, UTC+2
    slots = slots_between(
        "*/15 * * * *",
        "UTC",
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC),
    )
    assert len(slots) == 5


async def test_schedule_api_validation_and_preview(admin_client: Any) -> None:
    ws, job = await make_job(admin_client)
    url = f"/api/v1/workspaces/{ws}/schedules"
    bad_cron = await admin_client.post(url, json={"job_id": job, "cron": "61 * * * *"})
    bad_zone = await admin_client.post(
        url, json={"job_id": job, "cron": "0 * * * *", "timezone": "Mars/Olympus"}
    )
    bad_param = await admin_client.post(
        url, json={"job_id": job, "cron": "0 * * * *", "parameters": {"n": "x"}}
    )
    assert [r.status_code for r in (bad_cron, bad_zone, bad_param)] == [422, 422, 422]
    created = await admin_client.post(
        url, json={"job_id": job, "cron": "0 6 * * 1-5", "timezone": "America/New_York"}
    )
    assert created.status_code == 201, created.text
    detail = (await admin_client.get(f"{url}/{created.json()['id']}")).json()
    assert len(detail["upcoming"]) == 5
    assert all("T06:00:00" in p["local"] for p in detail["upcoming"])
    paused = await admin_client.post(f"{url}/{created.json()['id']}/pause")
    assert paused.json()["paused"] is True
    assert (await admin_client.get(f"{url}/{created.json()['id']}")).json()["upcoming"] == []
    resumed = await admin_client.post(f"{url}/{created.json()['id']}/resume")
    assert resumed.json()["paused"] is False


async def test_two_schedulers_never_fire_a_slot_twice(admin_client: Any, lakeplane_services: Any) -> None:
    ws, job = await make_job(admin_client)
    created = await admin_client.post(
        f"/api/v1/workspaces/{ws}/schedules",
        json={"job_id": job, "cron": "* * * * *", "misfire_policy": "all"},
    )
    schedule_id = created.json()["id"]
    async with lakeplane_services.sessions() as db:
        start = await db.scalar(select(Schedule.next_fire_at).where(Schedule.id == schedule_id))
    assert start is not None

    # Accelerated time: both schedulers share a clock that moves one minute per step.
    now = start - dt.timedelta(seconds=1)

    def clock() -> dt.datetime:
        return now

    first, second = Scheduler(lakeplane_services, clock), Scheduler(lakeplane_services, clock)
    fired = 0
    # Other tests' schedules share this database; for 200 simulated minutes only this one may fire.
    async with lakeplane_services.sessions() as db, db.begin():
        others = (
            await db.scalars(
                update(Schedule)
                .where(Schedule.id != schedule_id, Schedule.paused.is_(False))
                .values(paused=True)
                .returning(Schedule.id)
            )
        ).all()
    try:
        for _ in range(200):
            now += dt.timedelta(minutes=1)
            counts = await asyncio.gather(first.tick(), second.tick(), first.tick())
            fired += sum(counts)
    finally:
        async with lakeplane_services.sessions() as db, db.begin():
            await db.execute(update(Schedule).where(Schedule.id.in_(others)).values(paused=False))

    async with lakeplane_services.sessions() as db:
        runs = (await db.scalars(select(Run).where(Run.schedule_id == schedule_id))).all()
        fires = await db.scalar(
            select(func.count()).select_from(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)
        )
    assert fired == 200
    assert len(runs) == 200
    assert fires == 200
    assert len({r.idempotency_key for r in runs}) == 200


async def test_missed_slots_follow_policy(admin_client: Any, lakeplane_services: Any) -> None:
    ws, job = await make_job(admin_client)
    url = f"/api/v1/workspaces/{ws}/schedules"
    skip = (
        await admin_client.post(url, json={"job_id": job, "cron": "*/5 * * * *", "misfire_policy": "skip"})
    ).json()
    catch_up = (
        await admin_client.post(url, json={"job_id": job, "cron": "*/5 * * * *", "misfire_policy": "all"})
    ).json()
    later = dt.datetime.fromisoformat(skip["next_fire_at"]) + dt.timedelta(minutes=60)
    await Scheduler(lakeplane_services, lambda: later).tick()
    async with lakeplane_services.sessions() as db:
        skipped = await db.scalar(select(func.count()).select_from(Run).where(Run.schedule_id == skip["id"]))
        caught = await db.scalar(
            select(func.count()).select_from(Run).where(Run.schedule_id == catch_up["id"])
        )
    assert skipped == 1
    assert caught == 13
