"""Upgrades: a database made at the first migration, filled, migrated to head, read through the API.

Rows are written with the columns the database has at that revision (read from the
catalog), so the fill stays true to the old schema as later migrations add columns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from lakeplane.db.migrate import head_revision, known_revisions, upgrade
from lakeplane.db.models import AuditEvent
from lakeplane.domain.audit.chain import GENESIS, first_scheme_digest
from lakeplane.domain.auth.principals import TOKEN_PREFIX, hash_secret
from lakeplane.security.crypto import Keyring
from lakeplane.testing.app import make_config
from lakeplane.testing.processes import run_lakeplane
from lakeplane.web.app import create_app

FIRST = known_revisions()[0]
NOW = dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.UTC)


async def new_database(server_url: str, prefix: str) -> tuple[str, str]:
    url = make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return (
        url.set(database=name).render_as_string(hide_password=False),
        url.set(drivername="postgresql", database=name).render_as_string(hide_password=False),
    )


async def insert(conn: asyncpg.Connection, table: str, row: dict[str, Any]) -> None:
    columns = {
        r["column_name"]: r["data_type"]
        for r in await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", table
        )
    }
    present = {k: v for k, v in row.items() if k in columns}
    names = ", ".join(f'"{k}"' for k in present)
    values = ", ".join(
        f"${i}::jsonb" if columns[k] == "jsonb" else f"${i}" for i, k in enumerate(present, start=1)
    )
    params = [audit_json(v) if columns[k] == "jsonb" else v for k, v in present.items()]
    await conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({values})', *params)


def audit_json(value: Any) -> str:
    import json

    return json.dumps(value)


async def fill_first_schema(dsn: str, keyring: Keyring) -> dict[str, Any]:
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    ids = {"ws": "ws_up1", "user": "usr_up1", "bot": "usr_up2", "conn": "conn_up1", "ds": "ds_up1"}
    ids |= {"job": "job_up1", "jv1": "jv_up1", "jv2": "jv_up2", "sched": "sch_up1", "tok": "tok_up1"}
    runs = [f"run_up{n}" for n in range(6)]
    secret = keyring.encrypt("upgrade-secret-value", f"{ids['conn']}/secret_access_key")
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await insert(
                conn,
                "workspaces",
                {
                    "id": ids["ws"],
                    "slug": "grid",
                    "name": "Grid",
                    "description": "meters",
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            for uid, name, admin, bot in (
                (ids["user"], "alice", True, False),
                (ids["bot"], "etl-bot", False, True),
            ):
                await insert(
                    conn,
                    "users",
                    {
                        "id": uid,
                        "username": name,
                        "display_name": name.title(),
                        "email": f"{name}@example.org",
                        "is_admin": admin,
                        "is_service_account": bot,
                        "auth_provider": "local",
                        "disabled": False,
                        "credential_epoch": 0,
                        "created_at": NOW,
                        "updated_at": NOW,
                    },
                )
            await insert(
                conn,
                "role_bindings",
                {
                    "id": "rb_up1",
                    "user_id": ids["bot"],
                    "workspace_id": ids["ws"],
                    "role": "editor",
                    "created_at": NOW,
                },
            )
            await insert(
                conn,
                "api_tokens",
                {
                    "id": ids["tok"],
                    "user_id": ids["user"],
                    "name": "laptop",
                    "token_hash": hash_secret(token),
                    "prefix": token[:10],
                    "scopes": [],
                    "credential_epoch": 0,
                    "expires_at": NOW + dt.timedelta(days=3650),
                    "created_at": NOW,
                },
            )
            await insert(
                conn,
                "connections",
                {
                    "id": ids["conn"],
                    "workspace_id": ids["ws"],
                    "name": "lake",
                    "role": "object_store",
                    "plugin": "s3",
                    "description": "",
                    "params": {
                        "endpoint_url": "http://127.0.0.1:9",
                        "region": "us-east-1",
                        "access_key_id": "AKIA1",
                    },
                    "secrets": {"secret_access_key": secret},
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            await insert(
                conn,
                "datasets",
                {
                    "id": ids["ds"],
                    "workspace_id": ids["ws"],
                    "name": "meters.readings",
                    "owner": "grid team",
                    "location": "s3://lake/readings",
                    "format": "iceberg",
                    "tags": ["pii", "daily"],
                    "description": "readings",
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            await insert(
                conn,
                "jobs",
                {
                    "id": ids["job"],
                    "workspace_id": ids["ws"],
                    "name": "nightly",
                    "type": "noop",
                    "current_version": 2,
                    "archived": False,
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            for jv, version in ((ids["jv1"], 1), (ids["jv2"], 2)):
                await insert(
                    conn,
                    "job_versions",
                    {
                        "id": jv,
                        "job_id": ids["job"],
                        "version": version,
                        "definition": {"message": f"v{version}"},
                        "parameters": [
                            {"name": "day", "type": "string", "required": False, "default": "today"}
                        ],
                        "queue": "default",
                        "max_attempts": 2,
                        "retry_backoff_s": 5.0,
                        "created_at": NOW,
                    },
                )
            for n, run_id in enumerate(runs):
                state = ("succeeded", "failed", "queued", "cancelled", "succeeded", "timed_out")[n]
                finished = None if state == "queued" else NOW + dt.timedelta(minutes=n, seconds=3)
                await insert(
                    conn,
                    "runs",
                    {
                        "id": run_id,
                        "workspace_id": ids["ws"],
                        "job_id": ids["job"],
                        "job_version_id": ids["jv2"] if n % 2 else ids["jv1"],
                        "state": state,
                        "queue": "default",
                        "parameters": {"day": f"2026-11-{n + 10}"},
                        "attempt": 0 if state == "queued" else 1,
                        "max_attempts": 2,
                        "stop_requested": False,
                        "stats": {"rows": n * 10},
                        "reason": "boom" if state == "failed" else None,
                        "created_at": NOW + dt.timedelta(minutes=n),
                        "started_at": None if state == "queued" else NOW + dt.timedelta(minutes=n, seconds=1),
                        "finished_at": finished,
                        "next_attempt_at": NOW if state == "queued" else None,
                    },
                )
                await insert(
                    conn,
                    "run_transitions",
                    {"run_id": run_id, "attempt": 0, "from_state": None, "to_state": "queued", "at": NOW},
                )
            await insert(
                conn,
                "schedules",
                {
                    "id": ids["sched"],
                    "workspace_id": ids["ws"],
                    "job_id": ids["job"],
                    "cron": "0 2 * * *",
                    "timezone": "Europe/Berlin",
                    "parameters": {},
                    "paused": True,
                    "misfire_policy": "skip",
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            prev = GENESIS
            for seq in (1, 2, 3):
                event = AuditEvent(
                    seq=seq,
                    id=f"evt_up{seq}",
                    occurred_at=NOW,
                    actor_name="alice",
                    action="workspace.create",
                    outcome="success",
                    details={"n": seq},
                    prev_hash=prev,
                    target_type="workspace",
                    target_id=ids["ws"],
                )
                event.hash = prev = first_scheme_digest(event)
                row = {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}
                await insert(conn, "audit_events", row)
    finally:
        await conn.close()
    return {"ids": ids, "runs": runs, "token": token}


async def test_a_database_from_the_first_migration_reads_back_after_the_upgrade(
    postgres_service: Any,
) -> None:
    url, dsn = await new_database(postgres_service.url, "lp_upgrade")
    await asyncio.to_thread(upgrade, url, FIRST)
    config = make_config(url)
    keyring = Keyring(config.security.encryption_keys, config.security.primary_key_id)
    filled = await fill_first_schema(dsn, keyring)
    await asyncio.to_thread(upgrade, url)
    ids = filled["ids"]

    app = create_app(config)
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {filled['token']}"

        async def get(path: str) -> Any:
            resp = await client.get(path)
            assert resp.status_code == 200, (path, resp.text)
            return resp.json()

        ws = f"/api/v1/workspaces/{ids['ws']}"
        assert [w["slug"] for w in (await get("/api/v1/workspaces"))["items"]] == ["grid"]
        assert (await get(ws))["description"] == "meters"
        users = {u["username"]: u for u in (await get("/api/v1/users"))["items"]}
        assert set(users) == {"alice", "etl-bot"} and users["etl-bot"]["is_service_account"]
        assert [t["name"] for t in (await get(f"/api/v1/users/{ids['user']}/tokens"))["items"]] == ["laptop"]
        assert [(m["username"], m["role"]) for m in await get(f"{ws}/members")] == [("etl-bot", "editor")]
        (connection,) = (await get(f"{ws}/connections"))["items"]
        assert (
            connection["secrets_set"] == ["secret_access_key"]
            and connection["params"]["region"] == "us-east-1"
        )
        (dataset,) = (await get(f"{ws}/datasets"))["items"]
        assert dataset["tags"] == ["pii", "daily"] and dataset["location"] == "s3://lake/readings"
        (job,) = (await get(f"{ws}/jobs"))["items"]
        assert job["current_version"] == 2
        versions = await get(f"{ws}/jobs/{ids['job']}/versions")
        items = versions["items"] if isinstance(versions, dict) else versions
        assert sorted(v["definition"]["message"] for v in items) == ["v1", "v2"]
        runs = {r["id"]: r for r in (await get(f"{ws}/runs?limit=100"))["items"]}
        assert set(runs) == set(filled["runs"])
        for run_id in filled["runs"]:
            one = await get(f"{ws}/runs/{run_id}")
            assert one["parameters"]["day"].startswith("2026-11-")
        assert runs["run_up1"]["reason"] == "boom" and runs["run_up2"]["state"] == "queued"
        (schedule,) = (await get(f"{ws}/schedules"))["items"]
        assert schedule["timezone"] == "Europe/Berlin" and schedule["paused"] is True
        events = await get("/api/v1/audit")
        assert {e["id"] for e in events["items"]} >= {"evt_up1", "evt_up2", "evt_up3"}
        verdict = await get("/api/v1/audit/verify")
        assert verdict["ok"] is True, verdict

        # The upgraded database takes new writes: an edit audited after the old events.
        edited = await client.patch(f"{ws}/datasets/{ids['ds']}", json={"description": "after the upgrade"})
        assert edited.status_code == 200, edited.text
        assert (await get("/api/v1/audit/verify"))["ok"] is True
    from lakeplane.web.state import services

    await services(app.state).engine.dispose()


async def cli(config: Path, *argv: str) -> tuple[int, str, str]:
    return await run_lakeplane(*argv, "--config", str(config))


def write_config(tmp_path: Path, url: str) -> Path:
    config = make_config(url)
    path = tmp_path / "lakeplane.toml"
    keys = ", ".join(f'{k} = "{v}"' for k, v in config.security.encryption_keys.items())
    path.write_text(
        f'[database]\nurl = "{url}"\n[security]\nsession_key = "{config.security.session_key}"\n'
        f'encryption_keys = {{ {keys} }}\nprimary_key_id = "k1"\n'
    )
    return path


async def test_migrate_check_lists_what_is_pending(postgres_service: Any, tmp_path: Path) -> None:
    url, _ = await new_database(postgres_service.url, "lp_check")
    await asyncio.to_thread(upgrade, url, FIRST)
    config = write_config(tmp_path, url)
    rc, out, err = await cli(config, "migrate", "--check")
    assert rc == 1, err
    pending = [line.split()[1] for line in out.splitlines() if line.startswith("pending: ")]
    assert pending == known_revisions()[1:] and pending[-1] == head_revision()
    assert f"database at revision {FIRST}" in out
    rc, out, err = await cli(config, "migrate")
    assert rc == 0, err
    rc, out, err = await cli(config, "migrate", "--check")
    assert rc == 0 and "no pending migrations" in out, out + err


async def test_binaries_refuse_a_newer_schema_with_one_line(postgres_service: Any, tmp_path: Path) -> None:
    url, dsn = await new_database(postgres_service.url, "lp_newer")
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE alembic_version SET version_num = '20991231_9999'")
    finally:
        await conn.close()
    config = write_config(tmp_path, url)
    for argv in (("serve", "--port", "1"), ("worker",), ("scheduler",), ("migrate",), ("migrate", "--check")):
        rc, out, err = await cli(config, *argv)
        assert rc == 1, (argv, out, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert "Traceback" not in err, (argv, err)
        assert lines[-1].startswith("lakeplane: error: database: schema revision 20991231_9999 is newer"), (
            argv,
            err,
        )
