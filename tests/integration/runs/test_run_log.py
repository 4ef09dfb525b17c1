"""The run log has one writer: each line fenced by its attempt's lease, the worker's own in one format."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select, update

from lakeplane.db.models import Run, RunLog
from lakeplane.domain.runs import repository
from lakeplane.timeutil import utcnow
from lakeplane.worker import queue

from .conftest import RunsEnv

WORKER_LINE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \[worker\] "


async def logged(env: RunsEnv, run_id: str) -> list[str]:
    async with env.lp.sessions() as db:
        return list(await db.scalars(select(RunLog.text).where(RunLog.run_id == run_id).order_by(RunLog.id)))


async def test_an_adoption_is_logged_like_any_worker_line_and_the_old_lease_can_log_no_more(
    runs_env: RunsEnv,
) -> None:
    await runs_env.submit(await runs_env.job(), 1)
    async with runs_env.lp.sessions() as db:
        [first] = await queue.claim(
            db, runs_env.actor, "first", ["default"], 1, 30, queue.Limits({"default": 10}, 10)
        )
    async with runs_env.lp.sessions() as db, db.begin():  # the first worker stopped renewing
        await db.execute(
            update(Run)
            .where(Run.id == first.run_id)
            .values(lease_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    async with runs_env.lp.sessions() as db:
        [second] = await queue.adopt_expired(db, "second", 30, 10)

    assert (second.run_id, second.previous_owner, second.attempt) == (first.run_id, "first", 1)
    [adoption] = await logged(runs_env, first.run_id)
    assert re.fullmatch(WORKER_LINE + r"lease of first expired; attempt 1 adopted by second\n", adoption)

    async with runs_env.lp.sessions() as db, db.begin():
        await repository.append_log(
            db,
            [
                repository.LogLine(first.run_id, 1, first.token, "from the paused first worker\n"),
                repository.LogLine(first.run_id, 1, second.token, repository.log_text("from the second")),
            ],
        )

    lines = await logged(runs_env, first.run_id)
    assert lines[0] == adoption
    assert len(lines) == 2
    assert re.fullmatch(WORKER_LINE + r"from the second\n", lines[1])
