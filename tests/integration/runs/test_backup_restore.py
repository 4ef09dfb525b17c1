# Long module: the backup and restore tests share one populated stack and its snapshot helpers.
"""``lakeplane backup`` / ``restore`` against real PostgreSQL and SeaweedFS.

The round trip: a populated control plane (connections with secrets, datasets, job
versions, runs that ran on a real worker and left their logs in the object store, users,
tokens) is backed up, its database dropped and its bucket emptied, and the archive is
restored into a new database and bucket; everything reads back the same through the API.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import tarfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiobotocore.session import get_session
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from lakeplane.backup import archive
from lakeplane.backup.service import to_remove
from lakeplane.db.models import Connection
from lakeplane.domain import audit
from lakeplane.domain.connections import services as connections
from lakeplane.domain.connections.schemas import ConnectionCreate
from lakeplane.domain.connections.services import reveal
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.testing.fixtures import add_connection
from lakeplane.testing.processes import run_lakeplane
from lakeplane.web.app import create_app

from .conftest import RunsEnv, api_client, make_env

CONNECTION_SECRET = "s3-secret-" + secrets.token_hex(8)


def s3(seaweedfs: Any) -> Any:
    return get_session().create_client(
        "s3",
        endpoint_url=seaweedfs.s3_endpoint,
        region_name=seaweedfs.region,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
    )


async def new_bucket(seaweedfs: Any, prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(4)}"
    async with s3(seaweedfs) as client:
        await client.create_bucket(Bucket=name)
    return name


async def keys_in(seaweedfs: Any, bucket: str, prefix: str = "") -> list[str]:
    async with s3(seaweedfs) as client:
        found: list[str] = []
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return found


def store_options(seaweedfs: Any, bucket: str) -> dict[str, Any]:
    return {**seaweedfs.s3_options(), "bucket": bucket}


def config_for(source: Path, target: Path, database_url: str, bucket: str) -> Path:
    """A copy of ``source``'s config (same keys) pointing at another database and bucket."""
    lines = []
    for line in source.read_text().splitlines():
        if line.startswith("url = "):
            line = f'url = "{database_url}"'
        elif line.startswith("bucket = "):
            line = f'bucket = "{bucket}"'
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    return target


class Outcome:
    def __init__(self, rc: int, out: str, err: str) -> None:
        self.rc, self.out, self.err = rc, out, err

    @property
    def error(self) -> str:
        """The one error line a failed command prints, after any progress lines."""
        errors = [line for line in self.err.splitlines() if line.startswith("lakeplane: error: ")]
        assert len(errors) == 1 and "Traceback" not in self.err, self.err
        return errors[0]


async def aligned_env(postgres_url: str, tmp_path: Path, seaweedfs: Any, bucket: str) -> RunsEnv:
    """A runs environment whose config file holds the same keys as the test's own services."""
    env = await make_env(postgres_url, tmp_path, object_store=store_options(seaweedfs, bucket))
    security = env.lp.config.security
    lines = []
    for line in env.config_path.read_text().splitlines():
        if line.startswith("session_key = "):
            line = f'session_key = "{security.session_key}"'
        elif line.startswith("encryption_keys = "):
            line = (
                "encryption_keys = { "
                + ", ".join(f'{k} = "{v}"' for k, v in security.encryption_keys.items())
                + " }"
            )
        lines.append(line)
    env.config_path.write_text("\n".join(lines) + "\n")
    return env


async def cli(*argv: str) -> Outcome:
    return Outcome(*await run_lakeplane(*argv, kill_after_s=600))


async def snapshot(client: AsyncTestClient[Any], ws: str) -> dict[str, Any]:
    """What a person sees through the API: every entity the backup must bring back."""

    async def get(path: str) -> Any:
        resp = await client.get(path)
        assert resp.status_code == 200, (path, resp.text)
        return resp.json()

    jobs = (await get(f"{ws}/jobs"))["items"]
    runs = sorted((await get(f"{ws}/runs?limit=200"))["items"], key=lambda r: r["id"])
    users = sorted((await get("/api/v1/users"))["items"], key=lambda u: u["id"])
    return {
        "workspaces": (await get("/api/v1/workspaces"))["items"],
        "connections": (await get(f"{ws}/connections"))["items"],
        "datasets": (await get(f"{ws}/datasets"))["items"],
        "jobs": jobs,
        "versions": {j["id"]: await get(f"{ws}/jobs/{j['id']}/versions") for j in jobs},
        "runs": runs,
        "logs": {r["id"]: (await get(f"{ws}/runs/{r['id']}/logs")) for r in runs},
        "users": users,
        "tokens": {u["id"]: await get(f"/api/v1/users/{u['id']}/tokens") for u in users},
    }


async def populate(client: AsyncTestClient[Any], ws: str, seaweedfs: Any) -> list[str]:
    params = {**store_options(seaweedfs, "lake"), "secret_access_key": CONNECTION_SECRET}
    await add_connection(client, ws, "lake-s3", "object_store", "s3", params)
    for n in range(3):
        ds = await client.post(
            f"{ws}/datasets",
            json={
                "name": f"meters_{n}",
                "owner": "grid team",
                "location": f"s3://lake/meters_{n}",
                "tags": ["pii"],
            },
        )
        assert ds.status_code == 201, ds.text
    job = await client.post(
        f"{ws}/jobs", json={"name": "nightly", "type": "noop", "definition": {"message": "v1"}}
    )
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    edited = await client.patch(f"{ws}/jobs/{job_id}", json={"definition": {"message": "second version"}})
    assert edited.status_code == 200, edited.text
    user = await client.post(
        "/api/v1/users", json={"username": "ops-bot", "is_service_account": True, "display_name": "Ops"}
    )
    assert user.status_code == 201, user.text
    token = await client.post(f"/api/v1/users/{user.json()['id']}/tokens", json={"name": "ci"})
    assert token.status_code == 201, token.text
    run_ids = []
    for _ in range(4):
        run = await client.post(f"{ws}/jobs/{job_id}/runs", json={})
        assert run.status_code == 201, run.text
        run_ids.append(run.json()["id"])
    return run_ids


async def test_round_trip_brings_everything_back(
    postgres_service: Any, seaweedfs_service: Any, tmp_path: Path
) -> None:
    source_bucket = await new_bucket(seaweedfs_service, "bk-src")
    env = await aligned_env(postgres_service.url, tmp_path, seaweedfs_service, source_bucket)
    try:
        worker = env.start_worker(concurrency=4)
        await worker.ready()
        async with api_client(env) as (client, ws):
            run_ids = await populate(client, ws, seaweedfs_service)
            await env.wait_for(lambda: env.all_terminal(run_ids), 60, "the runs")
            before = await snapshot(client, ws)
            token = client.headers["Authorization"]
        env.stop_all()
        assert {r["state"] for r in before["runs"]} == {"succeeded"}
        assert all(log["source"] == "object_store" and log["text"] for log in before["logs"].values())

        backups = tmp_path / "backups"
        out = await cli("backup", "--config", str(env.config_path), "--to", str(backups))
        assert out.rc == 0, out.err
        (made,) = backups.iterdir()
        assert out.out.strip() == str(made)
        assert "database dumped" in out.err and "4 run logs" in out.err and "wrote" in out.err
        with tarfile.open(made) as tar:
            config_member = tar.extractfile(archive.CONFIG)
            assert config_member is not None
            stored_config = config_member.read().decode()
        for secret in (*env.lp.config.security.encryption_keys.values(), env.lp.config.security.session_key):
            assert secret not in stored_config
        assert seaweedfs_service.secret_access_key not in stored_config

        # Destroy the source: its database and its run logs.
        source_url = env.lp.config.database.url
        await env.lp.engine.dispose()
        admin = await asyncpg.connect(postgres_service.dsn)
        try:
            await admin.execute(f'DROP DATABASE "{source_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()
        async with s3(seaweedfs_service) as s3c:
            for key in await keys_in(seaweedfs_service, source_bucket):
                await s3c.delete_object(Bucket=source_bucket, Key=key)

        target_bucket = await new_bucket(seaweedfs_service, "bk-dst")
        target_url = await create_database(postgres_service.url, prefix="lp_restored")
        target_config = config_for(env.config_path, tmp_path / "target.toml", target_url, target_bucket)
        restored = await cli("restore", str(made), "--config", str(target_config))
        assert restored.rc == 0, restored.err
        assert "4 run logs back" in restored.err

        restored_config = make_config(
            target_url,
            security={
                "session_key": env.lp.config.security.session_key,
                "encryption_keys": env.lp.config.security.encryption_keys,
                "primary_key_id": "k1",
            },
            object_store={"plugin": "s3", "options": store_options(seaweedfs_service, target_bucket)},
        )
        app = create_app(restored_config)
        async with AsyncTestClient(app=app) as client:
            client.headers["Authorization"] = token
            after = await snapshot(client, ws)
        for run in before["runs"]:
            # The logs now live in the target's bucket, and the runs say so.
            run["log_uri"] = run["log_uri"].replace(f"//{source_bucket}/", f"//{target_bucket}/")
        assert after == before
        assert len(await keys_in(seaweedfs_service, target_bucket, "runs/")) == 4

        verified = await cli("audit", "verify", "--config", str(target_config))
        assert verified.rc == 0 and "audit chain intact" in verified.out, verified.err

        lp = Services.build(restored_config)
        try:
            async with lp.sessions() as db:
                conn = (await db.scalars(select(Connection))).one()
                assert await reveal(lp, conn) == {"secret_access_key": CONNECTION_SECRET}
        finally:
            await lp.engine.dispose()

        # The target now holds data: a second restore needs --force.
        again = await cli("restore", str(made), "--config", str(target_config))
        assert again.rc == 1 and "the target is not empty" in again.error
        assert (await cli("restore", str(made), "--config", str(target_config), "--force")).rc == 0
        assert (await cli("audit", "verify", "--config", str(target_config))).rc == 0
    finally:
        env.stop_all()
        await env.lp.engine.dispose()


@pytest.fixture
async def small_backup(postgres_service: Any, seaweedfs_service: Any, tmp_path: Path) -> dict[str, Any]:
    """A backed-up control plane (no runs) and an empty target for it."""
    bucket = await new_bucket(seaweedfs_service, "bk-bad")
    env = await aligned_env(postgres_service.url, tmp_path, seaweedfs_service, bucket)
    await env.lp.engine.dispose()
    assert (await cli("backup", "--config", str(env.config_path), "--to", str(tmp_path / "backups"))).rc == 0
    (made,) = (tmp_path / "backups").iterdir()
    target_url = await create_database(postgres_service.url, prefix="lp_bad_target")
    target = config_for(
        env.config_path,
        tmp_path / "target.toml",
        target_url,
        await new_bucket(seaweedfs_service, "bk-bad-dst"),
    )
    return {"archive": made, "target": target, "target_url": target_url, "env": env, "bucket": bucket}


async def _user_rows(url: str) -> int:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM workspaces"))
    finally:
        await conn.close()


def _rewrite(source: Path, target: Path, change: Any) -> Path:
    """Copy the archive member by member, letting ``change(name, data)`` alter any of them."""
    with tarfile.open(source) as tar_in, tarfile.open(target, "w:") as tar_out:
        for info in tar_in:
            member = tar_in.extractfile(info)
            assert member is not None
            data = change(info.name, member.read())
            info.size = len(data)
            tar_out.addfile(info, io.BytesIO(data))
    return target


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "truncated"),
        ("garbage", "not a readable backup archive"),
        ("flipped", "checksum mismatch for database.dump"),
        ("newer_schema", "newer than this release knows"),
        ("no_manifest", "has no manifest"),
    ],
)
async def test_damaged_archives_are_refused_before_anything_is_written(
    small_backup: dict[str, Any],
    tmp_path: Path,
    damage: str,
    message: str,
) -> None:
    made: Path = small_backup["archive"]
    bad = tmp_path / "bad.tar"
    raw = made.read_bytes()
    if damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        bad.write_bytes(secrets.token_bytes(4096))
    elif damage == "flipped":

        def flip(name: str, data: bytes) -> bytes:
            if name != archive.DUMP:
                return data
            middle = len(data) // 2
            return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]

        _rewrite(made, bad, flip)
    elif damage == "newer_schema":

        def newer(name: str, data: bytes) -> bytes:
            if name != archive.MANIFEST:
                return data
            manifest = json.loads(data)
            manifest["schema_revision"] = "20991231_9999"
            return json.dumps(manifest).encode()

        _rewrite(made, bad, newer)
    else:
        with tarfile.open(made) as tar_in, tarfile.open(bad, "w:") as tar_out:
            for info in tar_in:
                if info.name != archive.MANIFEST:
                    tar_out.addfile(info, tar_in.extractfile(info))
    refused = await cli("restore", str(bad), "--config", str(small_backup["target"]))
    assert refused.rc == 1 and message in refused.error, refused.err
    assert await _user_rows(small_backup["target_url"]) == 0


async def test_restore_refuses_other_keys(
    small_backup: dict[str, Any], seaweedfs_service: Any, tmp_path: Path
) -> None:
    env = small_backup["env"]
    # A connection with a secret makes the archive depend on key k1.
    lp = Services.build(env.lp.config)
    try:
        async with lp.sessions() as db:
            await connections.create(
                db,
                lp,
                audit.Actor.system("test"),
                env.workspace_id,
                ConnectionCreate(
                    name="keyed",
                    kind="object_store",
                    plugin="s3",
                    params={
                        **store_options(seaweedfs_service, "lake"),
                        "secret_access_key": "pw-" + secrets.token_hex(4),
                    },
                ),
            )
    finally:
        await lp.engine.dispose()
    assert (await cli("backup", "--config", str(env.config_path), "--to", str(tmp_path / "keyed"))).rc == 0
    (made,) = (tmp_path / "keyed").iterdir()
    target: Path = small_backup["target"]
    other = tmp_path / "other-keys.toml"
    old_key = env.lp.config.security.encryption_keys["k1"]
    other.write_text(target.read_text().replace(old_key, secrets.token_urlsafe(32)))
    refused = await cli("restore", str(made), "--config", str(other))
    assert refused.rc == 1 and "encryption key 'k1' of this config is not the one" in refused.error
    assert await _user_rows(small_backup["target_url"]) == 0
    assert (await cli("restore", str(made), "--config", str(target), "--check")).rc == 0
    assert await _user_rows(small_backup["target_url"]) == 0


async def test_backup_to_a_bucket_and_retention(small_backup: dict[str, Any], seaweedfs_service: Any) -> None:
    config = str(small_backup["env"].config_path)
    bucket = await new_bucket(seaweedfs_service, "bk-archives")
    for _ in range(3):
        made = await cli("backup", "--config", config, "--to", f"s3://{bucket}/nightly", "--keep-last", "2")
        assert made.rc == 0, made.err
    kept = await keys_in(seaweedfs_service, bucket)
    assert len(kept) == 2 and all(archive.archive_time(k.split("/")[-1]) for k in kept), kept
    newest = sorted(kept)[-1]
    target = str(small_backup["target"])
    assert (await cli("restore", f"s3://{bucket}/{newest}", "--config", target, "--check")).rc == 0

    missing = f"bk-missing-{secrets.token_hex(4)}"
    refused = await cli("backup", "--config", config, "--to", f"s3://{missing}/x")
    assert refused.rc == 1 and refused.error.startswith(f"lakeplane: error: cannot write to s3://{missing}/x")
    async with s3(seaweedfs_service) as client:
        buckets = [b["Name"] for b in (await client.list_buckets())["Buckets"]]
    assert missing not in buckets

    local = small_backup["archive"].parent
    for _ in range(2):
        assert (await cli("backup", "--config", config, "--to", str(local), "--keep-last", "1")).rc == 0
    assert len(list(local.iterdir())) == 1


def test_retention_keeps_the_newest_and_the_young() -> None:
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    names = [archive.archive_name(now - dt.timedelta(days=d)) for d in range(10)]
    assert to_remove(names, keep_last=3, keep_days=None, now=now, keep=names[0]) == names[3:]
    assert to_remove(names, keep_last=None, keep_days=4.5, now=now, keep=names[0]) == names[5:]
    assert to_remove(names, keep_last=6, keep_days=2, now=now, keep=names[0]) == names[6:]
    assert to_remove([*names, "notes.txt"], keep_last=None, keep_days=None, now=now, keep=names[0]) == []
    assert to_remove(names, keep_last=1, keep_days=None, now=now, keep=names[5]) == [
        n for i, n in enumerate(names) if i not in (0, 5)
    ]
