"""An app on a fresh migrated database per test module, and clients that share one event loop.

Litestar's ``AsyncTestClient`` runs the app in a blocking portal (its own thread
and event loop). asyncpg connections belong to the loop that opened them, so every
client here shares one session-wide portal (the app's pool lives on its loop), and
the tests reach the database through a ``Services`` of their own (``lp``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lakeplane.config import Config
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.testing.auth import bearer, unique
from lakeplane.web.app import create_app

ClientFactory = Callable[..., Awaitable[AsyncTestClient[Litestar]]]


@pytest.fixture(scope="session")
def app_portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as portal:
        yield portal


@pytest.fixture(scope="module")
async def auth_config(postgres_url: str) -> Config:
    return make_config(await create_database(postgres_url, "lp_auth"))


@pytest.fixture(scope="module")
def auth_app(auth_config: Config) -> Litestar:
    return create_app(auth_config)


@pytest.fixture(scope="module")
async def lp(auth_config: Config) -> AsyncIterator[Services]:
    """The test's own view of the database (its own pool, on the test loop)."""
    test_side = Services.build(auth_config)
    yield test_side
    await test_side.engine.dispose()


@pytest.fixture
async def clients(app_portal: BlockingPortal) -> AsyncIterator[ClientFactory]:
    """``await clients(app)``: a test client (its own cookie jar) running ``app`` in the shared portal."""
    opened: list[AsyncTestClient[Litestar]] = []

    async def make(app: Litestar, **kwargs: object) -> AsyncTestClient[Litestar]:
        # Not entered with ``async with``: that would run the app's lifespan once per
        # client; the app needs none, and its engine is disposed with the portal's loop.
        client: AsyncTestClient[Litestar] = AsyncTestClient(app=app, **kwargs)  # type: ignore[arg-type]
        client.blocking_portal = app_portal
        opened.append(client)
        return client

    yield make
    opened.clear()


@pytest.fixture
async def client(clients: ClientFactory, auth_app: Litestar) -> AsyncTestClient[Litestar]:
    return await clients(auth_app)


@pytest.fixture
async def fresh(postgres_url: str) -> AsyncIterator[tuple[Litestar, Services]]:
    """An app and test-side services on a database of their own (throttle, tamper tests)."""
    config = make_config(await create_database(postgres_url, "lp_auth"))
    test_side = Services.build(config)
    yield create_app(config), test_side
    await test_side.engine.dispose()


async def new_workspace(client: AsyncTestClient[Litestar], token: str, name: str) -> dict[str, Any]:
    """A workspace an administrator's ``token`` creates, slug unique from ``name``; its body."""
    body = {"slug": unique(name.lower()), "name": name}
    answer = await client.post("/api/v1/workspaces", json=body, headers=bearer(token))
    return dict(answer.json())
