"""Reading a job's application file from the object store; its errors are mapped in
:func:`lakeplane_spark._errors.application_errors`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiobotocore.session
from aiobotocore.config import AioConfig

from lakeplane.errors import ValidationFailed
from lakeplane.security.connect_aiohttp import GuardedResolver
from lakeplane.security.endpoints import endpoint_guard
from lakeplane_spark._errors import application_errors
from lakeplane_spark.params import SparkParams

#: A Python job file is small; a larger object is a mistake, not an application.
MAX_APPLICATION_BYTES = 4 << 20


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


@asynccontextmanager
async def s3_client(params: SparkParams) -> AsyncIterator[Any]:
    endpoint_guard().check("params.s3_endpoint", params.s3_endpoint, resolve=False)
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "s3",
        endpoint_url=params.s3_endpoint,
        region_name=params.s3_region,
        aws_access_key_id=params.s3_access_key_id,
        aws_secret_access_key=params.s3_secret_access_key,
        config=AioConfig(
            connector_args={"resolver": GuardedResolver()},
            s3={"addressing_style": "path" if params.s3_path_style_access else "auto"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2},
        ),
    ) as client:
        yield client


async def fetch_application(params: SparkParams, url: str) -> bytes:
    """The bytes of ``s3://bucket/key``; a missing object is the job definition's fault."""
    bucket, key = split_s3_url(url)
    with application_errors(url):
        async with s3_client(params) as client:
            response = await client.get_object(Bucket=bucket, Key=key)
            if response.get("ContentLength", 0) > MAX_APPLICATION_BYTES:
                raise ValidationFailed(
                    f"application {url} is larger than {MAX_APPLICATION_BYTES >> 20} MiB",
                    [{"field": "application", "message": "too large"}],
                )
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data
