"""Fixtures: a Spark connection to the session's real SeaweedFS (S3 + Iceberg REST catalog).

``seaweedfs_service`` comes from the core's pytest plugin (``lakeplane.testing.services``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Test modules import their helpers from here (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))

from _spark_testing import RAW_BUCKET

from lakeplane.testing.services import SeaweedFSService
from lakeplane_spark import SparkEngine, SparkParams
from lakeplane_spark.objects import s3_client


@pytest.fixture(scope="session")
def spark_params(
    seaweedfs_service: SeaweedFSService, tmp_path_factory: pytest.TempPathFactory
) -> SparkParams:
    return SparkParams(
        backend="local",
        catalog_name="lake",
        catalog_uri=seaweedfs_service.iceberg_uri,
        warehouse=seaweedfs_service.warehouse,
        catalog_credential=seaweedfs_service.credential,
        s3_endpoint=seaweedfs_service.s3_endpoint,
        s3_access_key_id=seaweedfs_service.access_key_id,
        s3_secret_access_key=seaweedfs_service.secret_access_key,
        s3_region=seaweedfs_service.region,
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
