"""UI tests run on the shared real-service fixtures of :mod:`lakeplane.testing`."""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lakeplane.runtime import Services
from lakeplane_ui.testing import Visitor, make_workspace, password_user, setup_sessions, sign_in

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


@pytest.fixture(scope="session")
async def ui_test_client(lakeplane_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The one client of the session, serving requests on the tests' own event loop, the
    loop the shared app's connection pool belongs to."""
    transport = httpx.ASGITransport(app=lakeplane_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
def ui_client(ui_test_client: httpx.AsyncClient) -> Visitor:
    return Visitor(ui_test_client)


@pytest.fixture
async def workspace(lakeplane_services: Services) -> Any:
    async with setup_sessions(lakeplane_services)() as db:
        return await make_workspace(db)


@pytest.fixture
def signed_in(lakeplane_services: Services, ui_test_client: httpx.AsyncClient) -> Callable[..., Any]:
    """``visitor, csrf, user = await signed_in(is_admin=True)`` or ``roles={ws.id: "viewer"}``."""

    async def make(*, is_admin: bool = False, roles: dict[str, str] | None = None) -> Any:
        username = f"u{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        user = await password_user(lakeplane_services, username, password, is_admin=is_admin, roles=roles)
        visitor = Visitor(ui_test_client)
        csrf = await sign_in(visitor, username, password)
        return visitor, csrf, user

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Tell CI where the browser test left its screenshots (they are not committed)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
    shots = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if shots:
        terminalreporter.write_sep("-", f"admin UI screenshots: {folder} ({len(shots)} files)")
        for shot in shots:
            terminalreporter.write_line(f"  {shot.name}")
