"""Trino's httpx client connects through the endpoint guard: a rebound name is refused."""

from __future__ import annotations

import pytest

from lakeplane.errors import EndpointRefused
from lakeplane.security.endpoints import EndpointGuard, check_endpoint, using_endpoint_guard
from lakeplane.testing.resolvers import METADATA_ADDRESS, RebindingResolver
from lakeplane_trino._protocol import TrinoHttp
from lakeplane_trino._structs import TrinoParams


async def test_a_name_rebound_to_the_metadata_address_is_refused_at_connect():
    answers = RebindingResolver({"trino.rebind.test": ("127.0.0.1", METADATA_ADDRESS)})
    with using_endpoint_guard(EndpointGuard(resolver=answers)):
        check_endpoint("params.host", "trino.rebind.test")  # saved: looked harmless
        http = TrinoHttp(TrinoParams(host="trino.rebind.test", user="lakeplane"), "test")
        try:
            with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
                await http.start("SELECT 1", {})
        finally:
            await http.aclose()
    assert answers.lookups["trino.rebind.test"] == 2
