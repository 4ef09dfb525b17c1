"""Helpers shared by the Spark plugin's tests (a uniquely named module: plugins share one sys.path)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from lakeplane_spark import SparkParams
from lakeplane_spark.objects import s3_client

RAW_BUCKET = "raw"

needs_spark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
    reason="needs pyspark and java",
)


async def put_object(params: SparkParams, key: str, body: bytes, bucket: str = RAW_BUCKET) -> str:
    async with s3_client(params) as client:
        await client.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def write_job(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    return f"local://{path}"


def in_cluster_params(s3_secret: str, catalog_secret: str, **settings: Any) -> SparkParams:
    """A ``kubernetes`` connection whose drivers reach the chart's in-cluster SeaweedFS."""
    return SparkParams(
        backend="kubernetes",
        catalog_uri="http://seaweedfs.lakeplane-data.svc:8181",
        warehouse="s3://lake/",
        catalog_credential=f"lakeplane:{catalog_secret}",
        s3_endpoint="http://seaweedfs.lakeplane-data.svc:8333",
        s3_access_key_id="lakeplane",
        s3_secret_access_key=s3_secret,
        **settings,
    )
