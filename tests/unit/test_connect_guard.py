"""The endpoint guard where connections are made: httpx, aiohttp and requests, for real.

A local HTTP server stands for any service. ``good.test`` always resolves to it;
``rebind.test`` resolves to it for the check and to the metadata address for the
connect, as a rebinding DNS server would answer.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests

from lakeplane.errors import EndpointRefused
from lakeplane.security.connect import guarded_httpx_transport
from lakeplane.security.connect_aiohttp import GuardedResolver
from lakeplane.security.connect_requests import GuardedHTTPAdapter
from lakeplane.security.endpoints import EndpointGuard, check_endpoint, using_endpoint_guard
from lakeplane.testing.resolvers import METADATA_ADDRESS, RebindingResolver


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def resolver() -> Iterator[RebindingResolver]:
    answers = RebindingResolver(
        {"good.test": ("127.0.0.1", "127.0.0.1"), "rebind.test": ("127.0.0.1", METADATA_ADDRESS)}
    )
    with using_endpoint_guard(EndpointGuard(resolver=answers)):
        yield answers


def _saved(url: str) -> None:
    """What saving a connection does: the check passes, the name looked harmless."""
    check_endpoint("params.uri", url)


async def test_httpx_connects_to_the_checked_address_and_refuses_a_rebound_one(port, resolver):
    async with httpx.AsyncClient(transport=guarded_httpx_transport()) as client:
        ok = await client.get(f"http://good.test:{port}/")
        assert ok.status_code == 200 and ok.text == f"hello good.test:{port}"
        _saved(f"http://rebind.test:{port}/")
        with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
            await client.get(f"http://rebind.test:{port}/")
    assert resolver.lookups["rebind.test"] == 2


async def test_aiohttp_resolver_refuses_a_rebound_name(port, resolver):
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"http://good.test:{port}/") as ok:
            assert ok.status == 200 and await ok.text() == f"hello good.test:{port}"
        _saved(f"http://rebind.test:{port}/")
        with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
            await session.get(f"http://rebind.test:{port}/")


def test_requests_adapter_refuses_a_rebound_name(port, resolver):
    with requests.Session() as session:
        session.mount("http://", GuardedHTTPAdapter())
        ok = session.get(f"http://good.test:{port}/", timeout=5)
        assert ok.status_code == 200 and ok.text == f"hello good.test:{port}"
        _saved(f"http://rebind.test:{port}/")
        with pytest.raises(EndpointRefused, match=r"169\.254\.169\.254"):
            session.get(f"http://rebind.test:{port}/", timeout=5)


async def test_literal_metadata_addresses_are_refused_at_connect(port):
    async with httpx.AsyncClient(transport=guarded_httpx_transport()) as client:
        for url in ("http://169.254.169.254./", "http://[::ffff:169.254.169.254]/", "http://2852039166/"):
            with pytest.raises(EndpointRefused):
                await client.get(url)


def test_an_admin_can_allow_an_address_by_name_or_network():
    answers = RebindingResolver({"meta.test": (METADATA_ADDRESS, METADATA_ADDRESS)})
    assert EndpointGuard(["meta.test."], answers).resolve("META.test", 80) == [METADATA_ADDRESS]
    assert EndpointGuard(["169.254.0.0/16"], answers).resolve("meta.test", 80) == [METADATA_ADDRESS]
    with pytest.raises(EndpointRefused):
        EndpointGuard(["other.test"], answers).resolve("meta.test", 80)
