"""``LocalStack`` end to end: real PostgreSQL, SeaweedFS and Trino on free loopback ports.

One test walks the whole life cycle, since every ``up`` of Trino costs tens of seconds:
up, healthy, up again (harmless), data written through each service, down, up, and
the data read back.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session

from lakeplane.local import LocalStack, PortInUse
from lakeplane.local.processes import ProcessRecord, group_members
from lakeplane.local.stack import free_stack_ports
from lakeplane.local.trino import run_query

CORE_COMPONENTS = ("postgres", "seaweedfs", "trino")


@pytest.fixture
def ports() -> dict[str, int]:
    """Every stack port, free now and none of the defaults (a real stack may be running)."""
    return free_stack_ports()


@pytest.fixture
async def stack(tmp_path: Path, ports: dict[str, int]) -> AsyncIterator[LocalStack]:
    stack = LocalStack(tmp_path / "stack", ports=ports, with_api=False, progress=print)
    try:
        yield stack
    finally:
        await stack.down()


def s3_client(state: dict[str, Any]) -> Any:
    s3 = state["s3"]
    return get_session().create_client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        region_name=s3["region"],
        aws_access_key_id=s3["access_key_id"],
        aws_secret_access_key=s3["secret_access_key"],
    )


async def trino(state: dict[str, Any], sql: str) -> list[list[object]]:
    async with httpx.AsyncClient(base_url=state["trino"]["url"], timeout=120) as client:
        return await run_query(client, sql)


async def postgres(state: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    connection = await asyncpg.connect(state["postgres"]["url"].replace("+asyncpg", ""))
    try:
        if not sql.lstrip().upper().startswith("SELECT"):
            await connection.execute(sql)
            return []
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


@pytest.mark.trino
async def test_up_is_idempotent_and_data_survives_down_and_up(stack: LocalStack) -> None:
    first = await stack.up()
    assert {r.name: r.outcome for r in first} == dict.fromkeys(CORE_COMPONENTS, "started")
    pids = {r.name: r.pid for r in first}

    statuses = {s.name: s for s in await stack.status()}
    for name in CORE_COMPONENTS:
        assert statuses[name].running and statuses[name].healthy, statuses[name]
        assert statuses[name].pid == pids[name]
        assert statuses[name].latency_ms is not None
    assert not statuses["api"].running

    for private in (stack.state_path, stack.config_path):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    state = json.loads(stack.state_path.read_text())
    config = tomllib.loads(stack.config_path.read_text())
    assert config["database"]["url"] == state["postgres"]["url"]
    assert config["database"]["url"].startswith("postgresql+asyncpg://")
    assert config["object_store"]["options"]["endpoint_url"] == state["s3"]["endpoint_url"]
    assert config["security"]["encryption_keys"]["k1"] != config["security"]["session_key"]

    again = await stack.up()
    assert {r.name: r.outcome for r in again} == dict.fromkeys(CORE_COMPONENTS, "already running")
    assert {r.name: r.pid for r in again} == pids

    async with s3_client(state) as s3:
        await s3.put_object(Bucket="lakeplane", Key="kept/hello.txt", Body=b"still here")
    await postgres(state, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)")
    await trino(state, "CREATE SCHEMA iceberg.kept")
    await trino(state, "CREATE TABLE iceberg.kept.numbers (id bigint, name varchar)")
    assert await trino(state, "INSERT INTO iceberg.kept.numbers VALUES (1, 'one'), (2, 'two')") == [[2]]

    stopped = dict(await stack.down())
    assert all(stopped[name] for name in CORE_COMPONENTS)
    assert not any(group_members(pid) for pid in pids.values() if pid)
    assert not any(s.running for s in await stack.status())

    second = await stack.up()
    assert {r.name: r.outcome for r in second} == dict.fromkeys(CORE_COMPONENTS, "started")
    assert json.loads(stack.state_path.read_text())["secrets"] == state["secrets"]
    async with s3_client(state) as s3:
        kept = await s3.get_object(Bucket="lakeplane", Key="kept/hello.txt")
        assert await kept["Body"].read() == b"still here"
    assert await postgres(state, "SELECT id FROM kept") == [(42,)]
    rows = await trino(state, "SELECT id, name FROM iceberg.kept.numbers ORDER BY id")
    assert rows == [[1, "one"], [2, "two"]]


async def test_a_port_in_use_fails_before_anything_starts(stack: LocalStack, ports: dict[str, int]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["s3"]))
        squatter.listen()

        with pytest.raises(PortInUse) as raised:
            await stack.up()

    assert raised.value.detail.startswith(f"port {ports['s3']} on 127.0.0.1 (s3) is already in use")
    assert "\n" not in raised.value.detail
    assert not any(s.running for s in await stack.status())


def test_the_cli_reports_a_port_in_use_in_one_line(tmp_path: Path, ports: dict[str, int]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["trino"]))
        squatter.listen()
        args = [f"--port={name}={port}" for name, port in ports.items()]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lakeplane.cli",
                "local",
                "up",
                "--without-api",
                "--data-dir",
                str(tmp_path),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"lakeplane: error: port {ports['trino']} on 127.0.0.1 (trino) is already in use: "
        "stop what listens there or choose another with --port trino=N"
    ]


async def test_down_never_signals_a_process_it_did_not_start(stack: LocalStack) -> None:
    """A recorded pid that now belongs to another process (different start time) is left alone."""
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (stack.data_dir / "postgres").mkdir(parents=True)
        record = ProcessRecord(
            pid=stranger.pid, start_ticks=1, boot_id="x", argv=["postgres"], started_at=0.0
        )
        record.save(stack.data_dir / "postgres" / "process.json")
        stack.state_path.write_text(json.dumps(_minimal_state()))

        stopped = dict(await stack.down())

        assert stopped["postgres"] is False
        assert stranger.poll() is None
        os.kill(stranger.pid, 0)
    finally:
        stranger.kill()
        stranger.wait()


def _minimal_state() -> dict[str, Any]:
    return {
        "version": 1,
        "ports": {},
        "postgres": {"external": False},
        "s3": {"access_key_id": "k", "secret_access_key": "s"},
        "secrets": {"postgres_password": "p", "session_key": "s", "encryption_keys": {"k1": "e"}},
    }
