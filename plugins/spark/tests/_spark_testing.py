"""Helpers shared by the Spark plugin's tests (a uniquely named module: plugins share one sys.path)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

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
