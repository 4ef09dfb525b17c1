"""The client's address behind a proxy: believed only from the proxies in server.forwarded_allow_ips."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lakeplane.db.models import AuditEvent, ThrottleBucket
from lakeplane.errors import ConfigError
from lakeplane.testing.app import create_database, make_config
from lakeplane.web.app import create_app
from lakeplane.web.proxy import behind_proxy
from lakeplane.web.state import services

PROXY = "10.1.2.3"
CLIENT = "203.0.113.7"


async def failed_login(app: Any, peer: str, username: str, forwarded_for: str) -> None:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        resp = await client.post(
            "/api/v1/auth/login",
            json={"username": username, "password": "not the password"},
            headers={"X-Forwarded-For": forwarded_for},
        )
    assert resp.status_code == 401, resp.text


async def seen_as(app: Any, username: str) -> tuple[str | None, list[str]]:
    async with services(app.state).sessions() as db:
        event = await db.scalar(select(AuditEvent).where(AuditEvent.actor_name == username))
        buckets = (
            await db.scalars(select(ThrottleBucket.key).where(ThrottleBucket.key.like("login:source:%")))
        ).all()
    assert event is not None
    return event.source_ip, list(buckets)


@pytest.fixture(scope="module")
async def inner(postgres_url: str) -> Any:
    config = make_config(
        await create_database(postgres_url, "lp_proxy"), server={"forwarded_allow_ips": [PROXY]}
    )
    app = create_app(config)
    yield app, config
    await services(app.state).engine.dispose()


async def test_a_forwarded_header_from_the_trusted_proxy_gives_the_client_address(inner):
    app, config = inner
    await failed_login(behind_proxy(app, config.server), PROXY, "via-proxy", CLIENT)
    source_ip, buckets = await seen_as(app, "via-proxy")
    assert source_ip == CLIENT
    assert f"login:source:{CLIENT}" in buckets and f"login:source:{PROXY}" not in buckets


async def test_a_forwarded_header_from_anyone_else_is_ignored(inner):
    app, config = inner
    await failed_login(behind_proxy(app, config.server), "10.9.9.9", "not-a-proxy", "198.51.100.1")
    source_ip, buckets = await seen_as(app, "not-a-proxy")
    assert source_ip == "10.9.9.9"
    assert "login:source:198.51.100.1" not in buckets


async def test_by_default_no_one_is_trusted(postgres_url):
    config = make_config(await create_database(postgres_url, "lp_proxy"))
    assert config.server.forwarded_allow_ips == []
    app = create_app(config)
    await failed_login(behind_proxy(app, config.server), "127.0.0.1", "loopback-peer", CLIENT)
    source_ip, _ = await seen_as(app, "loopback-peer")
    assert source_ip == "127.0.0.1"
    await services(app.state).engine.dispose()


def test_a_malformed_entry_is_a_config_error():
    with pytest.raises(ConfigError, match="forwarded_allow_ips"):
        make_config("postgresql+asyncpg://x@/y", server={"forwarded_allow_ips": ["not-an-ip"]})
