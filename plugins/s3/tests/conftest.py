"""A real SeaweedFS for the session, and stores opened on it.

Until the core's ``seaweedfs_service`` fixture lands, this starts its own ``weed mini``
through :func:`lakeplane.testing.seaweedfs.start_seaweedfs` (free loopback ports, so a
stack already running on the machine is left alone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from lakeplane.testing.seaweedfs import SeaweedFS, start_seaweedfs
from lakeplane_s3 import S3ObjectStore, S3Params


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_params(seaweedfs: SeaweedFS) -> S3Params:
    return S3Params(
        endpoint_url=seaweedfs.s3_endpoint,
        region=seaweedfs.region,
        access_key_id=seaweedfs.access_key_id,
        secret_access_key=seaweedfs.secret_access_key,
    )


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def s3_store(s3_params: S3Params) -> AsyncIterator[S3ObjectStore]:
    async with S3ObjectStore(s3_params) as store:
        yield store
