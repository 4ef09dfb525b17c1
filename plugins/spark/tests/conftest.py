"""Fixtures: a real SeaweedFS (S3 + Iceberg REST catalog) and a Spark connection to it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Test modules import their helpers from here (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))

from _spark_testing import RAW_BUCKET

from lakeplane.testing.seaweedfs import SeaweedFS, start_seaweedfs
from lakeplane_spark import SparkEngine, SparkParams
from lakeplane_spark.objects import s3_client


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_params(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> SparkParams:
    return SparkParams(
        backend="local",
        catalog_name="lake",
        catalog_uri=seaweedfs.iceberg_uri,
        warehouse=seaweedfs.warehouse,
        catalog_credential=seaweedfs.credential,
        s3_endpoint=seaweedfs.s3_endpoint,
        s3_access_key_id=seaweedfs.access_key_id,
        s3_secret_access_key=seaweedfs.secret_access_key,
        s3_region=seaweedfs.region,
        local_work_dir=str(tmp_path_factory.mktemp("spark-runs")),
        local_cores=2,
        max_executor_memory="2g",
    )


@pytest.fixture(scope="session")
async def raw_bucket(spark_params: SparkParams) -> str:
    async with s3_client(spark_params) as client:
        await client.create_bucket(Bucket=RAW_BUCKET)
    return RAW_BUCKET


@pytest.fixture
async def engine(spark_params: SparkParams) -> AsyncIterator[SparkEngine]:
    async with SparkEngine(spark_params) as spark:
        yield spark
