"""UI tests run on the shared real-service fixtures of :mod:`lakeplane.testing`."""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lakeplane.web.state import Services
from lakeplane_ui.testing import make_workspace, password_user, sign_in

if importlib.util.find_spec("lakeplane.testing.services") is None:  # pragma: no cover - until it lands
    import pgserver

    @pytest.fixture(scope="session")
    def postgres_service() -> Any:
        # pgserver runs PostgreSQL as its own user: the directory must not sit in a private tmp dir.
        server = pgserver.get_server(f"/tmp/lp_ui_pg_{secrets.token_hex(4)}", cleanup_mode="delete")

        class _Pg:
            url = server.get_uri().replace("postgresql://", "postgresql+asyncpg://")

        yield _Pg()
        server.cleanup()


@pytest.fixture
async def ui_client(lakeplane_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=lakeplane_app) as client:
        yield client


@pytest.fixture
async def workspace(lakeplane_services: Services) -> Any:
    async with lakeplane_services.sessions() as db:
        return await make_workspace(db)


@pytest.fixture
def signed_in(lakeplane_services: Services, lakeplane_app: Litestar) -> Callable[..., Any]:
    """``client, csrf, user = await signed_in(is_admin=True)`` or ``roles={ws.id: "viewer"}``."""
    clients: list[AsyncTestClient[Litestar]] = []

    async def make(*, is_admin: bool = False, roles: dict[str, str] | None = None) -> Any:
        username = f"u{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        user = await password_user(lakeplane_services, username, password, is_admin=is_admin, roles=roles)
        client = AsyncTestClient(app=lakeplane_app)
        await client.__aenter__()
        clients.append(client)
        csrf = await sign_in(client, username, password)
        return client, csrf, user

    yield make
    # Closed by the event loop at session end; AsyncTestClient needs no explicit close for these tests.
