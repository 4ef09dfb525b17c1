"""The local stack's supervisor: a worker killed with SIGKILL mid-run comes back, and every run
still ends exactly once.

The worker is the stack's own component (``lakeplane worker`` as ``local up`` starts it) on a
real PostgreSQL; the supervisor is the one ``local up`` runs, here in the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from lakeplane.db.models import RunTransition
from lakeplane.local.control_plane import LakeplaneWorkerComponent
from lakeplane.local.processes import ProcessRecord, is_alive
from lakeplane.local.supervisor import Supervision, Supervisor

from .conftest import make_env


async def restarted(component: LakeplaneWorkerComponent, old_pid: int, timeout: float = 60) -> ProcessRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = ProcessRecord.load(component.record_path)
        if record is not None and record.pid != old_pid and is_alive(record):
            return record
        assert time.monotonic() < deadline, f"not restarted:\n{component.log_path.read_text()[-2000:]}"
        await asyncio.sleep(0.1)


async def test_a_killed_worker_is_restarted_and_runs_end_exactly_once(
    postgres_service: Any, tmp_path: Path
) -> None:
    env = await make_env(postgres_service.url, tmp_path)
    component = LakeplaneWorkerComponent(tmp_path / "worker", config_path=env.config_path)
    await component.start()
    supervisor = Supervisor([component])
    supervising = asyncio.create_task(supervisor.run())
    try:
        job = await env.job(delay_s=0.5)
        ids = await env.submit(job, 120)
        for kill in (1, 2):
            await env.wait_for(lambda: _some_running(env, ids), 60, "runs in flight before the kill")
            record = component.record()
            assert record is not None
            os.killpg(record.pid, signal.SIGKILL)
            await restarted(component, record.pid)
            state = Supervision.load(component.home)
            assert state.restarts == kill and state.last_exit == "killed by SIGKILL", state
        await env.wait_for(lambda: env.all_terminal(ids), 180, "every run to end")
        runs = await env.runs(ids)
        assert [r.state for r in runs].count("succeeded") == 120, sorted({r.state for r in runs})
        async with env.lp.sessions() as db:
            ends = dict(
                (
                    await db.execute(
                        select(RunTransition.run_id, func.count())
                        .where(RunTransition.to_state == "succeeded", RunTransition.run_id.in_(ids))
                        .group_by(RunTransition.run_id)
                    )
                ).all()
            )
        assert set(ends) == set(ids) and set(ends.values()) == {1}
        await env.check_invariants()

        # Stopped on purpose (as `local down` does): it stays stopped.
        assert await component.stop()
        await asyncio.sleep(3)
        assert not component.is_running()
        assert Supervision.load(component.home).restarts == 2
    finally:
        supervisor.stop()
        await supervising
        await component.stop()
        await env.lp.engine.dispose()


async def _some_running(env: Any, ids: list[str]) -> bool:
    return any(r.state == "running" for r in await env.runs(ids))
