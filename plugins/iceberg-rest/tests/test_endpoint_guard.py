"""pyiceberg's requests session connects through the endpoint guard: a rebound name is refused."""

from __future__ import annotations

import pytest

from lakeplane.errors import EndpointRefused
from lakeplane.security.endpoints import EndpointGuard, check_endpoint, using_endpoint_guard
from lakeplane.testing.resolvers import METADATA_ADDRESS, RebindingResolver
from lakeplane_iceberg_rest.catalog import IcebergRestCatalog, IcebergRestParams


async def test_a_name_rebound_to_the_metadata_address_is_refused_at_connect():
    answers = RebindingResolver({"catalog.rebind.test": ("127.0.0.1", METADATA_ADDRESS)})
    with using_endpoint_guard(EndpointGuard(resolver=answers)):
        check_endpoint("params.uri", "http://catalog.rebind.test:8181")  # saved: looked harmless
        catalog = IcebergRestCatalog(IcebergRestParams(uri="http://catalog.rebind.test:8181", token="t0ken"))
        try:
            with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
                await catalog.list_namespaces()
        finally:
            await catalog.close()
    assert answers.lookups["catalog.rebind.test"] >= 2
