"""schemathesis against the real app on a real Postgres, over HTTP, with every check.

The server is the app under uvicorn on loopback, on a fresh migrated database, called
as a global admin; the anonymous calls schemathesis makes itself check the 401s.

What is relaxed, and why, is listed in ``schemathesis.toml`` beside this file.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from lakeplane.testing.app import create_database, make_config, make_user
from lakeplane.web.app import create_app
from lakeplane.web.state import services

EXAMPLES_PER_OPERATION = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def api_server(postgres_service: Any) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of the app served over HTTP on its own event loop."""
    database_url = asyncio.run(create_database(postgres_service.url, "lp_contract"))
    app = create_app(make_config(database_url))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)

    # The app's pool belongs to the server's loop: make the admin through a second app.
    side = create_app(make_config(database_url))
    token = asyncio.run(_with_dispose(side, admin_of(side)))
    created = httpx.post(
        f"{base}/api/v1/workspaces",
        json={"slug": "contract", "name": "Contract"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    yield base, token
    server.should_exit = True
    thread.join(timeout=10)


def admin_of(app: Any) -> Any:
    async def make() -> str:
        lp = services(app.state)
        async with lp.sessions() as db:
            return (await make_user(db, f"contract-{secrets.token_hex(3)}", is_admin=True))[1]

    return make()


async def _with_dispose(app: Any, work: Any) -> Any:
    try:
        return await work
    finally:
        await services(app.state).engine.dispose()


def test_schemathesis_finds_no_failure(api_server: tuple[str, str], tmp_path: Path) -> None:
    """``schemathesis run --checks all`` with its coverage, fuzzing and stateful phases."""
    base, token = api_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{base}/api/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    report = result.stdout + result.stderr[-4000:]
    assert result.returncode == 0, report
    print(result.stdout[result.stdout.find("WARNINGS") :])
    assert "No issues found" in report or " passed" in report, report
