"""A real ``lakeplane serve`` on a free loopback port and a real ``lakeplane worker`` (noop
engine), both on a fresh Postgres database, for the client and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lakeplane.domain import audit
from lakeplane.domain.auth.services import create_admin, password_provider
from lakeplane.local.ports import free_ports
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config, make_user
from lakeplane.testing.fixtures import object_store_section, security_section, wait_http
from lakeplane.testing.processes import start_lakeplane

PASSWORD = "correct horse battery staple"


class Served:
    """The served API: its URL, an admin's token, a password user, and the test's own services."""

    def __init__(self, url: str, lp: Services, token: str, username: str, tmp: Path) -> None:
        self.url, self.lp, self.token, self.username, self.tmp = url, lp, token, username, tmp


def _config_file(url: str, path: Path, config: Any, store: dict[str, Any] | None) -> None:
    lines = [
        "[database]",
        f'url = "{url}"',
        *security_section(config),
        "[worker]",
        "poll_interval_s = 0.05",
    ]
    if store:
        lines += object_store_section(store)
    path.write_text("\n".join([*lines, ""]))


@pytest.fixture(scope="module")
def served_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
async def served(postgres_url: str, served_tmp: Path) -> AsyncIterator[Served]:
    async with serve(postgres_url, served_tmp) as found:
        yield found


@contextlib.asynccontextmanager
async def serve(postgres_url: str, tmp: Path, store: dict[str, Any] | None = None) -> AsyncIterator[Served]:
    """An API and a worker on a fresh database; run logs go to ``store`` when given."""
    served_tmp = tmp
    url = await create_database(postgres_url, prefix="lp_client")
    sections: dict[str, Any] = {"security": {"allowed_endpoints": ["127.0.0.1", "localhost"]}}
    if store:
        sections["object_store"] = {"plugin": "s3", "options": store}
    config = make_config(url, **sections)
    config_path = served_tmp / "lakeplane.toml"
    _config_file(url, config_path, config, store)
    (port,) = free_ports(1)
    procs = [
        start_lakeplane(
            ["serve", "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
            served_tmp / "api.log",
        ),
        start_lakeplane(
            ["worker", "--config", str(config_path), "--name", "client-tests"], served_tmp / "worker.log"
        ),
    ]
    lp = Services.build(config)
    try:
        async with lp.sessions() as db:
            _, token = await make_user(db, f"admin-{secrets.token_hex(3)}", is_admin=True)
        username = f"pw-{secrets.token_hex(3)}"
        hashed = await password_provider(lp).hash_password(PASSWORD)
        async with lp.sessions() as db, db.begin():
            await create_admin(db, audit.Actor.system("test"), username, hashed, "user.create_admin")
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_http, f"{base}/health/live", procs[0], served_tmp / "api.log")
        yield Served(base, lp, token, username, served_tmp)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await lp.engine.dispose()


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("LAKEPLANE_URL", "LAKEPLANE_TOKEN", "LAKEPLANE_PROFILE", "LAKEPLANE_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return home
