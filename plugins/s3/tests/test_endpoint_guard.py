"""aiobotocore connects through the endpoint guard: a rebound name is refused at connect."""

from __future__ import annotations

import pytest

from lakeplane.errors import EndpointRefused
from lakeplane.security.endpoints import EndpointGuard, check_endpoint, using_endpoint_guard
from lakeplane.testing.resolvers import METADATA_ADDRESS, RebindingResolver
from lakeplane_s3.store import S3ObjectStore, S3Params


async def test_a_name_rebound_to_the_metadata_address_is_refused_at_connect():
    answers = RebindingResolver({"s3.rebind.test": ("127.0.0.1", METADATA_ADDRESS)})
    with using_endpoint_guard(EndpointGuard(resolver=answers)):
        check_endpoint("params.endpoint_url", "http://s3.rebind.test:8333")  # saved: looked harmless
        params = S3Params(
            endpoint_url="http://s3.rebind.test:8333",
            access_key_id="test-key",
            secret_access_key="test-secret-value",
        )
        async with S3ObjectStore(params) as store:
            with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
                await store.list_buckets()
    assert answers.lookups["s3.rebind.test"] >= 2


async def test_a_literal_metadata_endpoint_is_refused_before_any_client_exists():
    params = S3Params(
        endpoint_url="http://169.254.169.254./",
        access_key_id="test-key",
        secret_access_key="test-secret-value",
    )
    with pytest.raises(EndpointRefused):
        async with S3ObjectStore(params):
            pass
