"""Shared test fixtures for the core's tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A superuser URL of a real PostgreSQL server: ``postgres_service`` when the
    Lakeplane pytest plugin provides it, else one started here from the pgserver wheel.
    """
    try:
        service = request.getfixturevalue("postgres_service")
    except pytest.FixtureLookupError:
        service = None
    if service is not None:
        yield str(service.url)
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="lp-pg-") as pgdata:
        server = pgserver.get_server(Path(pgdata), cleanup_mode="stop")
        socket_dir = server.get_uri().split("host=", 1)[1]
        try:
            yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
        finally:
            server.cleanup()
