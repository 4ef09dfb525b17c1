"""Real Postgres, real ``lakeplane worker`` subprocesses, and the invariants every run must keep."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from lakeplane.db.engine import is_outage
from lakeplane.db.models import AuditEvent, Run, RunTransition, Workspace
from lakeplane.domain import audit
from lakeplane.domain.connections import services as connections
from lakeplane.domain.connections.schemas import ConnectionCreate
from lakeplane.domain.jobs import services as jobs
from lakeplane.domain.jobs.schemas import JobCreate
from lakeplane.domain.runs.lifecycle import LEGAL
from lakeplane.domain.runs.services import submit_run
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config, make_user
from lakeplane.testing.fixtures import object_store_section, security_section
from lakeplane.testing.processes import start_lakeplane
from lakeplane.timeutil import utcnow
from lakeplane.web.app import create_app

LEASE_S = 3.0

if importlib.util.find_spec("lakeplane.testing.services") is None:  # until the shared fixture lands
    import pgserver
    from pgserver import _commands as pg_commands

    class _PgServer:
        """pgserver's PostgreSQL with the stop/start the restart test needs."""

        def __init__(self) -> None:
            self.server = pgserver.get_server(
                f"/tmp/lp_runs_pg_{secrets.token_hex(4)}", cleanup_mode="delete"
            )
            self.url = self.server.get_uri().replace("postgresql://", "postgresql+asyncpg://")

        def stop(self) -> None:
            pg_commands.pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
            )

        def start(self) -> None:
            self.server.ensure_postgres_running()

    @pytest.fixture(scope="session")
    def postgres_service() -> Any:
        service = _PgServer()
        yield service
        service.server.cleanup()


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen[bytes], name: str, log_path: Path) -> None:
        self.proc, self.name, self.log_path = proc, name, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while "ready:" not in self.log():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker {self.name} exited {self.proc.returncode}:\n{self.log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name} not ready:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.05)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def exited(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name} still running:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.05)
        return self.proc.returncode


class RunsEnv:
    def __init__(self, lp: Services, config_path: Path, tmp: Path, workspace_id: str) -> None:
        self.lp, self.config_path, self.tmp, self.workspace_id = lp, config_path, tmp, workspace_id
        self.actor = audit.Actor.system("test")
        self.workers: list[WorkerProcess] = []

    def start_worker(
        self,
        name: str | None = None,
        *,
        concurrency: int = 32,
        fault: str | None = None,
        queues: tuple[str, ...] = (),
    ) -> WorkerProcess:
        name = name or f"w{len(self.workers)}-{secrets.token_hex(2)}"
        log_path = self.tmp / f"{name}.log"
        args = ["worker", "--config", str(self.config_path), "--name", name]
        args += ["--concurrency", str(concurrency), "--drain-timeout", "10"]
        args += [arg for q in queues for arg in ("--queue", q)]
        proc = start_lakeplane(args, log_path, env={"LAKEPLANE_FAULT": fault} if fault else None)
        worker = WorkerProcess(proc, name, log_path)
        self.workers.append(worker)
        return worker

    async def job(self, name: str | None = None, **definition: Any) -> str:
        return await self.job_with(definition, name=name)

    async def job_with(
        self, definition: dict[str, Any], *, name: str | None = None, job_type: str = "noop", **settings: Any
    ) -> str:
        """A job; ``settings`` are the version's other fields (queue, limits, retries, timeout, connection)."""
        async with self.lp.sessions() as db:
            job, _ = await jobs.create(
                db,
                self.lp,
                self.actor,
                self.workspace_id,
                JobCreate(
                    name=name or f"{job_type}-{secrets.token_hex(3)}",
                    type=job_type,  # type: ignore[arg-type]
                    definition=definition,
                    **settings,
                ),
            )
        return job.id

    async def trino_connection(self, trino_service: Any) -> str:
        """An engine connection to the session's Trino; its id."""
        async with self.lp.sessions() as db:
            conn = await connections.create(
                db,
                self.lp,
                self.actor,
                self.workspace_id,
                ConnectionCreate(
                    name=f"trino-{secrets.token_hex(2)}",
                    kind="engine",
                    plugin="trino",
                    params=trino_params(trino_service),
                ),
            )
        return conn.id

    async def submit(self, job_id: str, count: int = 1, *, parallel: int = 8) -> list[str]:
        ids: list[str] = []
        semaphore = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with semaphore, self.lp.sessions() as db:
                run = await submit_run(db, self.lp, self.actor, self.workspace_id, job_id, {})
                ids.append(run.id)

        await asyncio.gather(*(one() for _ in range(count)))
        return ids

    async def runs(self, ids: list[str] | None = None) -> list[Run]:
        async with self.lp.sessions() as db:
            query = select(Run)
            if ids is not None:
                query = query.where(Run.id.in_(ids))
            return list((await db.scalars(query)).all())

    async def wait_for(
        self, check: Callable[[], Awaitable[bool]], timeout: float, what: str = "condition"
    ) -> float:
        started = time.monotonic()
        while not await self._outage_tolerant(check):
            if time.monotonic() - started > timeout:
                logs = "\n".join(f"--- {w.name}\n{w.log()[-2000:]}" for w in self.workers)
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    async def _outage_tolerant(self, check: Callable[[], Awaitable[bool]]) -> bool:
        """The test's own pool may hold connections that died with a Postgres restart."""
        try:
            return await check()
        except Exception as exc:
            if not is_outage(exc):
                raise
            return False

    async def held_by(self, ids: list[str], owner: str) -> bool:
        """Whether ``owner`` holds every one of ``ids`` running, with its engine handle stored."""
        held = await self.runs(ids)
        return all(r.state == "running" and r.lease_owner == owner and r.engine_handle for r in held)

    async def all_terminal(self, ids: list[str]) -> bool:
        return all(r.state in ("succeeded", "failed", "cancelled", "timed_out") for r in await self.runs(ids))

    async def check_invariants(self) -> None:
        """Only legal transitions, in a chain; one audit event per transition; nothing stuck running."""
        async with self.lp.sessions() as db:
            transitions = (await db.scalars(select(RunTransition).order_by(RunTransition.id))).all()
            by_run: dict[str, list[RunTransition]] = {}
            for t in transitions:
                by_run.setdefault(t.run_id, []).append(t)
            runs = {r.id: r for r in (await db.scalars(select(Run))).all()}
            events = dict(
                (
                    await db.execute(
                        select(AuditEvent.target_id, func.count())
                        .where(AuditEvent.action == "run.transition")
                        .group_by(AuditEvent.target_id)
                    )
                ).all()
            )
            verdict = await audit.verify(db)
        assert verdict.ok, verdict.problem
        for run_id, run in runs.items():
            chain = by_run.get(run_id, [])
            assert chain, f"{run_id} has no transitions"
            previous = None
            for t in chain:
                assert (t.from_state, t.to_state) in LEGAL, (run_id, t.from_state, t.to_state)
                assert t.from_state == previous, (run_id, [(x.from_state, x.to_state) for x in chain])
                previous = t.to_state
            assert previous == run.state, (run_id, previous, run.state)
            assert events.get(run_id, 0) == len(chain), (run_id, events.get(run_id), len(chain))
            if run.state == "running":
                assert run.lease_expires_at is not None
                overdue = (utcnow() - run.lease_expires_at).total_seconds()
                assert overdue < 2 * LEASE_S, f"{run_id} running {overdue:.1f}s past its lease"

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.signal(signal.SIGCONT)
            worker.signal(signal.SIGKILL)
        for worker in self.workers:
            worker.proc.wait(timeout=10)


async def make_env(
    postgres_url: str,
    tmp_path: Path,
    engines: dict[str, str] | None = None,
    object_store: dict[str, Any] | None = None,
    *,
    queues: dict[str, int] | None = None,
    workspace_limit: int | None = None,
) -> RunsEnv:
    """A fresh database, a config file for worker processes, and the test's own services."""
    url = await create_database(postgres_url, prefix="lp_runs")
    queues = queues or {"default": 1000, "bi": 8, "batch": 4}
    worker: dict[str, Any] = {"lease_seconds": LEASE_S, "poll_interval_s": 0.05, "queues": queues}
    if workspace_limit is not None:
        worker["workspace_limit"] = workspace_limit
    engine_config = {name: {"plugin": plugin} for name, plugin in (engines or {}).items()}
    security = {"allowed_endpoints": ["127.0.0.1", "localhost"]}
    store = {"object_store": {"plugin": "s3", "options": object_store}} if object_store else {}
    config = make_config(url, worker=worker, engines=engine_config, security=security, **store)
    config_path = tmp_path / "lakeplane.toml"
    lines = [
        "[database]",
        f'url = "{url}"',
        "pool_size = 20",
        *security_section(config),
        "[worker]",
        f"lease_seconds = {LEASE_S}",
        "poll_interval_s = 0.05",
        "queues = { " + ", ".join(f"{q} = {n}" for q, n in queues.items()) + " }",
    ]
    if workspace_limit is not None:
        lines.append(f"workspace_limit = {workspace_limit}")
    for name, plugin in (engines or {}).items():
        lines += [f"[engines.{name}]", f'plugin = "{plugin}"']
    if object_store:
        lines += object_store_section(object_store)
    config_path.write_text("\n".join([*lines, ""]))
    lp = Services.build(
        make_config(
            url, worker=worker, engines=engine_config, security=security, database={"pool_size": 30}, **store
        )
    )
    workspace_id = new_id("ws")
    async with lp.sessions() as db, db.begin():
        db.add(Workspace(id=workspace_id, slug=f"runs-{secrets.token_hex(4)}", name="runs"))
    return RunsEnv(lp, config_path, tmp_path, workspace_id)


def trino_params(trino_service: Any) -> dict[str, Any]:
    """Where the session's Trino answers, as a Trino connection's params."""
    return {"host": trino_service.host, "port": trino_service.port, "user": trino_service.user}


@contextlib.asynccontextmanager
async def env_of(postgres_url: str, tmp_path: Path, **options: Any) -> AsyncIterator[RunsEnv]:
    """:func:`make_env`, its workers stopped and its pool closed afterwards."""
    env = await make_env(postgres_url, tmp_path, **options)
    try:
        yield env
    finally:
        env.stop_all()
        await env.lp.engine.dispose()


@pytest.fixture
async def runs_env(postgres_service: Any, tmp_path: Path) -> AsyncIterator[RunsEnv]:
    async with env_of(postgres_service.url, tmp_path) as env:
        yield env


@pytest.fixture
async def trino_env(postgres_service: Any, tmp_path: Path) -> AsyncIterator[RunsEnv]:
    """:func:`runs_env` whose workers run the ``trino`` engine."""
    async with env_of(postgres_service.url, tmp_path, engines={"trino": "trino"}) as env:
        yield env


@contextlib.asynccontextmanager
async def api_client(env: RunsEnv) -> AsyncIterator[tuple[AsyncTestClient[Any], str]]:
    """An admin's client of the real app on ``env``'s database, and the workspace's URL prefix."""
    app = create_app(env.lp.config)
    async with env.lp.sessions() as db:  # the app's own pool lives in the test client's loop
        _, token = await make_user(db, f"admin-{secrets.token_hex(3)}", is_admin=True)
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, f"/api/v1/workspaces/{env.workspace_id}"


@pytest.fixture
async def api(runs_env: RunsEnv) -> AsyncIterator[tuple[AsyncTestClient[Any], str]]:
    async with api_client(runs_env) as found:
        yield found
