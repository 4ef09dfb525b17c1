"""App-level fixtures on top of the real services (database, config, app, client, users), and
the helpers tests share: config file sections, connection params, creating through the API."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import Table, select

from lakeplane.config import Config
from lakeplane.db.models import Base, User
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config, make_user
from lakeplane.web.app import create_app
from lakeplane.web.state import services

__all__ = [
    "READ_BOOKKEEPING",
    "add_connection",
    "add_job",
    "admin_client",
    "client_for",
    "created",
    "every_row",
    "iceberg_rest_params",
    "lakeplane_app",
    "lakeplane_config",
    "lakeplane_db_url",
    "lakeplane_services",
    "new_user",
    "object_store_section",
    "placeholder_lake",
    "security_section",
]


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until ``url`` answers 200; fails with the tail of ``log`` when ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer: {log.read_text()[-3000:]}")


def security_section(config: Config) -> list[str]:
    """The ``[security]`` table of a config file for a process that must share ``config``'s
    keys, loopback allowed as an endpoint: lines of TOML."""
    keys = config.security.encryption_keys
    return [
        "[security]",
        f'session_key = "{config.security.session_key}"',
        "encryption_keys = { " + ", ".join(f'{k} = "{v}"' for k, v in keys.items()) + " }",
        f'primary_key_id = "{config.security.primary_key_id}"',
        'allowed_endpoints = ["127.0.0.1", "localhost"]',
    ]


def object_store_section(options: dict[str, Any]) -> list[str]:
    """The ``[object_store]`` table of a config file for the ``s3`` store: lines of TOML."""
    return [
        "[object_store]",
        'plugin = "s3"',
        "[object_store.options]",
        *(f"{k} = {json.dumps(v)}" for k, v in options.items()),
    ]


def placeholder_lake() -> dict[str, str]:
    """A warehouse and its S3 settings, named as the catalog and engine plugins' params name
    them, for params that are built and never connect: nothing answers at these addresses."""
    return {
        "warehouse": "s3://lake/",
        "s3_endpoint": "http://s3:8333",
        "s3_access_key_id": "key",
        "s3_secret_access_key": "not-a-secret",
    }


def iceberg_rest_params(seaweedfs: Any) -> dict[str, Any]:
    """The params of an ``iceberg-rest`` catalog connection on ``seaweedfs``'s Iceberg catalog
    (a :class:`~lakeplane.testing.services.SeaweedFSService`)."""
    return {
        "uri": seaweedfs.iceberg_uri,
        "warehouse": seaweedfs.warehouse,
        "credential": seaweedfs.credential,
        "s3_endpoint": seaweedfs.s3_endpoint,
        "s3_access_key_id": seaweedfs.access_key_id,
        "s3_secret_access_key": seaweedfs.secret_access_key,
    }


async def created(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to the collection at ``url``: what was created, once the answer is a 201."""
    resp = await client.post(url, json=body)
    assert resp.status_code == 201, resp.text
    found: dict[str, Any] = resp.json()
    return found


async def add_connection(
    client: httpx.AsyncClient, ws: str, name: str, role: str, plugin: str, params: dict[str, Any]
) -> dict[str, Any]:
    """A connection created through the API in the workspace whose URL is ``ws``."""
    body = {"name": name, "role": role, "plugin": plugin, "params": params}
    return await created(client, f"{ws}/connections", body)


async def add_job(
    client: httpx.AsyncClient, ws: str, name: str, job_type: str, definition: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A job created through the API in the workspace whose URL is ``ws``; ``fields`` are its
    other fields (parameters, connection, retries, timeout)."""
    body = {"name": name, "type": job_type, "definition": definition, **fields}
    return await created(client, f"{ws}/jobs", body)


#: Bookkeeping a read may update: when a credential was last used.
READ_BOOKKEEPING = frozenset({("api_tokens", "last_used_at"), ("sessions", "last_seen_at")})


async def every_row(
    lp: Services, skip: frozenset[tuple[str, str]] = READ_BOOKKEEPING
) -> dict[str, list[str]]:
    """Every row of every table as text, by table, without the ``(table, column)`` pairs in
    ``skip``: a snapshot to compare before and after requests that must change nothing."""
    state: dict[str, list[str]] = {}
    async with lp.sessions() as db:
        for table in Base.metadata.sorted_tables:
            assert isinstance(table, Table)
            columns = [c for c in table.columns if (table.name, c.name) not in skip]
            rows = (await db.execute(select(*columns))).all()
            state[table.name] = sorted(repr(tuple(r)) for r in rows)
    return state


@pytest.fixture(scope="session")
async def lakeplane_db_url(postgres_service: Any) -> str:
    return await create_database(postgres_service.url)


@pytest.fixture(scope="session")
def lakeplane_config(lakeplane_db_url: str) -> Config:
    return make_config(lakeplane_db_url, engines={"trino": {"plugin": "trino"}})


@pytest.fixture(scope="session")
async def lakeplane_app(lakeplane_config: Config) -> AsyncIterator[Litestar]:
    app = create_app(lakeplane_config)
    yield app
    await services(app.state).engine.dispose()


@pytest.fixture(scope="session")
def lakeplane_services(lakeplane_app: Litestar) -> Services:
    return services(lakeplane_app.state)


@pytest.fixture
def new_user(lakeplane_services: Services) -> Callable[..., Awaitable[tuple[User, str]]]:
    """``await new_user("name", is_admin=..., roles={ws_id: role})`` → (user, token)."""

    async def make(username: str | None = None, **kwargs: Any) -> tuple[User, str]:
        name = f"{username or 'user'}-{secrets.token_hex(4)}"
        async with lakeplane_services.sessions() as db:
            return await make_user(db, name, **kwargs)

    return make


@pytest.fixture
async def client_for(
    lakeplane_app: Litestar,
) -> AsyncIterator[Callable[[str | None], Awaitable[httpx.AsyncClient]]]:
    """``await client_for(token)``: an open test client sending that bearer token (or none)."""
    clients: list[httpx.AsyncClient] = []

    async def make(token: str | None) -> httpx.AsyncClient:
        # In the test's own event loop, so the app and the test share one connection pool.
        transport = httpx.ASGITransport(app=lakeplane_app)  # type: ignore[arg-type]
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        if token:
            client.headers["Authorization"] = f"Bearer {token}"
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def admin_client(
    new_user: Callable[..., Awaitable[tuple[User, str]]],
    client_for: Callable[[str | None], Awaitable[httpx.AsyncClient]],
) -> httpx.AsyncClient:
    _, token = await new_user("admin", is_admin=True)
    return await client_for(token)
