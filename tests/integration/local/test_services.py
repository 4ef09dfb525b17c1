"""The session fixtures of :mod:`lakeplane.testing.services` give real, working services."""

from __future__ import annotations

import asyncpg
import httpx
from aiobotocore.session import get_session

from lakeplane.local.trino import run_query
from lakeplane.testing.services import PostgresService, SeaweedFSService, TrinoService


async def test_postgres_keeps_its_data_across_stop_and_start(postgres_service: PostgresService) -> None:
    assert postgres_service.url.startswith("postgresql+asyncpg://")
    connection = await asyncpg.connect(postgres_service.dsn)
    await connection.execute("CREATE TABLE IF NOT EXISTS survives (id int); INSERT INTO survives VALUES (7)")
    await connection.close()

    postgres_service.stop()
    try:
        await asyncpg.connect(postgres_service.dsn, timeout=2)
    except (OSError, asyncpg.PostgresError):
        pass
    else:
        raise AssertionError("PostgreSQL still answers after stop()")
    postgres_service.start()

    connection = await asyncpg.connect(postgres_service.dsn)
    try:
        assert await connection.fetchval("SELECT id FROM survives") == 7
    finally:
        await connection.close()


async def test_seaweedfs_serves_s3_and_the_catalog(seaweedfs_service: SeaweedFSService) -> None:
    client = get_session().create_client(
        "s3",
        endpoint_url=seaweedfs_service.s3_endpoint,
        region_name=seaweedfs_service.region,
        aws_access_key_id=seaweedfs_service.access_key_id,
        aws_secret_access_key=seaweedfs_service.secret_access_key,
    )
    async with client as s3:
        await s3.put_object(Bucket=seaweedfs_service.bucket, Key="a/b.txt", Body=b"hi")
        body = await (await s3.get_object(Bucket=seaweedfs_service.bucket, Key="a/b.txt"))["Body"].read()
    assert body == b"hi"
    key, secret = seaweedfs_service.credential.split(":")
    async with httpx.AsyncClient() as http:
        token = await http.post(
            seaweedfs_service.oauth2_server_uri,
            data={"grant_type": "client_credentials", "client_id": key, "client_secret": secret},
        )
        config = await http.get(
            f"{seaweedfs_service.iceberg_uri}/v1/config",
            params={"warehouse": seaweedfs_service.warehouse},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert config.status_code == 200


async def test_trino_writes_and_reads_an_iceberg_table(trino_service: TrinoService) -> None:
    assert trino_service.catalog == "iceberg"
    async with httpx.AsyncClient(base_url=trino_service.url, timeout=120) as http:
        await run_query(http, "CREATE SCHEMA IF NOT EXISTS iceberg.fixture")
        await run_query(
            http, "CREATE TABLE iceberg.fixture.t AS SELECT * FROM (VALUES (1, 'a')) AS v (id, name)"
        )
        assert await run_query(http, "SELECT id, name FROM iceberg.fixture.t") == [[1, "a"]]
