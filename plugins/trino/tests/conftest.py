"""A real Trino for the session, and engines opened on it.

Most tests run on the core's ``trino_service`` (:mod:`lakeplane.testing.services`);
the tests of basic authentication need HTTPS and a password file, so they start a
second Trino of their own (``dev_trino``, see ``_trino_server.py``).
``LAKEPLANE_TEST_TRINO=host:port`` points the other tests at a Trino already running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from _trino_server import USER, DevTrino, start

from lakeplane_trino import TrinoEngine, TrinoParams

_dev_trino: Future[DevTrino] | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the second Trino in the background as soon as a collected test needs it."""
    global _dev_trino
    if any("dev_trino" in getattr(item, "fixturenames", ()) for item in session.items):
        workdir = Path(tempfile.mkdtemp(prefix="lakeplane-dev-trino-"))
        _dev_trino = ThreadPoolExecutor(1, thread_name_prefix="dev-trino").submit(start, workdir)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _dev_trino is not None:
        with contextlib.suppress(Exception):
            server = _dev_trino.result()
            server.stop()
            shutil.rmtree(server.log_path.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def dev_trino(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTrino]:
    if _dev_trino is not None:
        yield _dev_trino.result()  # stopped at the end of the session
        return
    server = start(tmp_path_factory.mktemp("trino"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trino_params(request: pytest.FixtureRequest) -> TrinoParams:
    """A Trino speaking plain HTTP without authentication."""
    configured = os.environ.get("LAKEPLANE_TEST_TRINO")
    if configured:
        host, _, port = configured.rpartition(":")
        return TrinoParams(host=host, port=int(port), user=USER)
    try:
        service: Any = request.getfixturevalue("trino_service")
    except pytest.FixtureLookupError:
        service = request.getfixturevalue("dev_trino")
    return TrinoParams(host=service.host, port=service.port, user=USER)


@pytest_asyncio.fixture(loop_scope="session")
async def trino(trino_params: TrinoParams) -> AsyncIterator[TrinoEngine]:
    async with TrinoEngine(trino_params) as engine:
        yield engine
