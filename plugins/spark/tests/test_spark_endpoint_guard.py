"""The Kubernetes client and the endpoints given to Spark go through the endpoint guard."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from lakeplane.drivers.kubernetes import guarded_api_client
from lakeplane.errors import EndpointRefused
from lakeplane.security.endpoints import EndpointGuard, check_endpoint, using_endpoint_guard
from lakeplane.testing.resolvers import METADATA_ADDRESS, RebindingResolver


async def test_the_kubernetes_client_refuses_a_rebound_api_server():
    answers = RebindingResolver({"kube.rebind.test": ("127.0.0.1", METADATA_ADDRESS)})
    with using_endpoint_guard(EndpointGuard(resolver=answers)):
        check_endpoint("kubernetes", "https://kube.rebind.test:6443")  # looked harmless
        configuration = client.Configuration()
        configuration.host = "https://kube.rebind.test:6443"
        api = guarded_api_client(configuration)
        try:
            with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
                await client.CoreV1Api(api).list_namespace()
        finally:
            await api.close()
    assert answers.lookups["kube.rebind.test"] == 2


def test_a_literal_metadata_api_server_is_refused():
    configuration = client.Configuration()
    configuration.host = "https://169.254.169.254.:443"
    with pytest.raises(EndpointRefused):
        guarded_api_client(configuration)


@pytest.mark.parametrize(
    "url",
    [
        "jdbc:postgresql://169.254.169.254:5432/db",
        "jdbc:mysql://user:pw@169.254.169.254./db",
        "http://METADATA.google.internal./computeMetadata/v1/",
        "jdbc:sqlserver://[fe80::1]:1433;databaseName=x",
    ],
)
def test_job_conf_urls_to_metadata_addresses_are_refused(url):
    from lakeplane_spark.spec import check_conf

    errors = check_conf({"spark.sql.catalog.other.uri": url, "spark.app.jdbcUrl": url})
    assert len(errors) == 2 and all("metadata" in e["message"] for e in errors), errors
    assert check_conf({"spark.app.jdbcUrl": "jdbc:postgresql://db.internal:5432/x"}) == []
