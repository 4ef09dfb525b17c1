"""Stores opened on the session's real SeaweedFS (the core's ``seaweedfs_service`` fixture).

``seaweedfs_service`` comes from Lakeplane's pytest plugin (:mod:`lakeplane.testing.services`):
a ``weed mini`` on free loopback ports, so a stack already running on the machine is
left alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from lakeplane.testing.services import SeaweedFSService
from lakeplane_s3 import S3ObjectStore, S3Params


@pytest.fixture(scope="session")
def s3_params(seaweedfs_service: SeaweedFSService) -> S3Params:
    return S3Params(
        endpoint_url=seaweedfs_service.s3_endpoint,
        region=seaweedfs_service.region,
        access_key_id=seaweedfs_service.access_key_id,
        secret_access_key=seaweedfs_service.secret_access_key,
    )


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def s3_store(s3_params: S3Params) -> AsyncIterator[S3ObjectStore]:
    async with S3ObjectStore(s3_params) as store:
        yield store
