"""PostgreSQL from the binaries of the ``pgserver`` wheel, on a loopback TCP port.

pgserver's own manager listens on a Unix socket only and stops the server when the
Python process that started it exits. The stack needs a server that outlives ``local
up`` and that tests can stop and start again on the same port, so it runs the wheel's
``initdb`` and ``postgres`` itself: TCP on 127.0.0.1 only, no Unix socket (its path
would depend on the data directory's length), password (SCRAM) authentication.

PostgreSQL refuses to run as root. Run as root, the server runs as the unprivileged
system user ``pgserver`` (the one the wheel itself creates), and the directories above
its data directory get the search bit for others, so that user can reach it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from lakeplane.local.component import (
    Component,
    ComponentStatus,
    NotHealthy,
    Progress,
    StartResult,
    no_progress,
)
from lakeplane.local.errors import ComponentFailed, LocalStackError
from lakeplane.local.ports import LOOPBACK
from lakeplane.local.processes import write_private

PG_SYSTEM_USER = "pgserver"


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise LocalStackError("PostgreSQL needs the pgserver wheel: pip install 'lakeplane[local]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class PostgresComponent(Component):
    name = "postgres"
    #: SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, data is checkpointed.
    stop_signal = signal.SIGINT

    def __init__(
        self,
        home: Path,
        *,
        port: int,
        password: str,
        user: str = "postgres",
        database: str = "lakeplane",
        durable: bool = True,
    ) -> None:
        super().__init__(home)
        self.port = port
        self.password = password
        self.user = user
        self.database = database
        #: Tests turn fsync off: their data need not survive a power cut.
        self.durable = durable

    @property
    def endpoint(self) -> str:
        return f"postgresql://{LOOPBACK}:{self.port}"

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL for the control plane (asyncpg driver)."""
        return self.dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)

    def dsn(self, database: str | None = None) -> str:
        """libpq/asyncpg connection string."""
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"postgresql://{credentials}@{LOOPBACK}:{self.port}/{database or self.database}"

    def ports(self) -> dict[str, int]:
        return {"postgres": self.port}

    def run_as(self) -> str | None:
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def command(self) -> list[str]:
        # Room for the API, several workers and a scheduler, each with its own pool.
        settings = {"listen_addresses": LOOPBACK, "unix_socket_directories": "", "max_connections": "300"}
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [
            str(postgres_bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            *options,
        ]

    async def prepare(self, progress: Progress) -> None:
        bin_dir = postgres_bin_dir()
        user = self.run_as()
        owner = _system_user(user) if user else None
        if owner is not None:
            _grant_search(self.home)
            _grant_search(bin_dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        progress(f"{self.name}: initialising a new database cluster in {self.data_dir}")
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        password_file = self.home / ".initdb-password"
        write_private(password_file, self.password)
        if owner is not None:
            os.chown(self.data_dir, owner.pw_uid, owner.pw_gid)
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        argv = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            *([] if self.durable else ["--no-sync"]),
        ]
        run_as: dict[str, Any] = (
            {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
        )

        def initdb() -> subprocess.CompletedProcess[str]:
            return subprocess.run(argv, capture_output=True, text=True, check=False, **run_as)

        try:
            result = await asyncio.to_thread(initdb)
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
            reason = next((line for line in lines if "error:" in line), lines[-1])
            raise ComponentFailed(f"initdb failed in {self.data_dir}: {reason}")

    async def probe(self) -> None:
        connection = await asyncpg.connect(self.dsn("postgres"), timeout=self.probe_timeout)
        try:
            if await connection.fetchval("SELECT 1") != 1:
                raise NotHealthy("SELECT 1 did not return 1")
        finally:
            await connection.close()

    async def after_start(self) -> None:
        """Create the control plane's database the first time."""
        connection = await asyncpg.connect(self.dsn("postgres"), timeout=self.probe_timeout)
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await connection.close()


class ExternalPostgres(Component):
    """A PostgreSQL the user already runs: probed, never started or stopped."""

    name = "postgres"

    def __init__(self, home: Path, url: str) -> None:
        super().__init__(home)
        self.sqlalchemy_url = as_sqlalchemy_url(url)

    @property
    def endpoint(self) -> str:
        parts = urlsplit(self.sqlalchemy_url)
        host = parts.hostname or "localhost"
        return f"postgresql://{host}:{parts.port or 5432}{parts.path} (external)"

    def ports(self) -> dict[str, int]:
        return {}

    def command(self) -> list[str]:
        raise LocalStackError("an external PostgreSQL is not started by the stack")

    async def probe(self) -> None:
        dsn = self.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        connection = await asyncpg.connect(dsn, timeout=self.probe_timeout)
        try:
            await connection.fetchval("SELECT 1")
        finally:
            await connection.close()

    async def start(self, progress: Progress = no_progress) -> StartResult:
        health = await self.health()
        if not health.ok:
            raise ComponentFailed(
                f"the external PostgreSQL at {self.endpoint} does not answer: {health.detail}"
            )
        return StartResult(self.name, "external", 0.0, None, self.endpoint)

    async def stop(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    async def status(self) -> ComponentStatus:
        health = await self.health()
        return ComponentStatus(
            self.name, True, None, self.endpoint, health.ok, health.latency_ms, health.detail
        )


def as_sqlalchemy_url(url: str) -> str:
    """``postgresql://`` or ``postgres://`` → ``postgresql+asyncpg://``, the control plane's driver."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
        raise LocalStackError(f"not a PostgreSQL URL: {parts.scheme}://…")
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def _system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        reason = (result.stderr or result.stdout).strip() or "useradd failed"
        raise LocalStackError(f"could not create the system user {name!r} for PostgreSQL: {reason}") from None


def _grant_search(path: Path) -> None:
    """Let other users traverse (not list) ``path`` and every directory above it."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
