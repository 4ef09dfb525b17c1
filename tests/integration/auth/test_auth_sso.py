"""A redirect (OIDC-style) provider plugs in without core changes: begin, callback, session."""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import msgspec
import pytest
from sqlalchemy import select

from lakeplane import plugins
from lakeplane.db.models import User
from lakeplane.errors import NotAuthenticated
from lakeplane.hookspecs import hookimpl
from lakeplane.interfaces import CheckResult, Identity
from lakeplane.interfaces.auth import LoginRedirect, RedirectAuthProvider
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.web.app import create_app


class NoParams(msgspec.Struct):
    pass


class CodeFlowProvider(RedirectAuthProvider):
    """What an OIDC plugin does, minus the network: a code in the callback names the person."""

    name: ClassVar[str] = "test-sso"
    Params: ClassVar[type[msgspec.Struct]] = NoParams

    async def health(self) -> CheckResult:
        return CheckResult(ok=True, checks=[])

    async def validate(self) -> CheckResult:
        return CheckResult(ok=True, checks=[])

    async def begin_login(self, redirect_uri: str) -> LoginRedirect:
        return LoginRedirect(
            url=f"https://idp.example/authorize?redirect_uri={redirect_uri}", state={"nonce": "n-1"}
        )

    async def complete_login(
        self, redirect_uri: str, params: dict[str, str], state: dict[str, Any]
    ) -> Identity:
        if state.get("nonce") != "n-1" or params.get("code", "").count(":") != 1:
            raise NotAuthenticated("the identity provider's answer is not valid")
        subject, username = params["code"].split(":")
        return Identity(provider=self.name, subject=subject, username=username, display_name=username.title())


@hookimpl
def lakeplane_register_auth_providers(registry: Any) -> None:
    registry.add(CodeFlowProvider)


@pytest.fixture(scope="module")
async def sso(postgres_url: str) -> Any:
    module = types.ModuleType("lakeplane_test_sso")
    module.lakeplane_register_auth_providers = lakeplane_register_auth_providers  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    config = make_config(await create_database(postgres_url, "lp_auth"), auth={"plugin": "test-sso"})
    app = create_app(config, plugins.load(extra=[module]))
    test_side = Services.build(config, plugins.load(extra=[module]))
    yield app, test_side
    await test_side.engine.dispose()


async def test_redirect_sign_in_provisions_the_user_and_opens_a_session(sso, clients):
    app, lp = sso
    client = await clients(app)
    client.follow_redirects = False
    begun = await client.post("/api/v1/auth/sso/begin")
    assert begun.status_code == 200, begun.text
    target = urlparse(begun.json()["url"])
    assert target.hostname == "idp.example"
    assert parse_qs(target.query)["redirect_uri"][0].endswith("/api/v1/auth/sso/callback")
    done = await client.get("/api/v1/auth/sso/callback", params={"code": "sub-42:grace"})
    assert done.status_code in (302, 303), done.text
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "grace" and me.json()["workspaces"] == {}
    async with lp.sessions() as db:
        user = await db.scalar(select(User).where(User.username == "grace"))
    assert user.auth_provider == "test-sso" and user.subject == "sub-42" and not user.is_admin
    # Password sign-in is off with a redirect provider.
    resp = await client.post("/api/v1/auth/login", json={"username": "grace", "password": "anything at all"})
    assert resp.status_code == 404


async def test_callback_without_our_signed_state_is_refused(sso, clients):
    app, lp = sso
    client = await clients(app)
    client.follow_redirects = False
    resp = await client.get("/api/v1/auth/sso/callback", params={"code": "sub-7:mallory"})
    assert resp.status_code == 401
    await client.post("/api/v1/auth/sso/begin")
    state = client.cookies.get("lakeplane_sso")
    body, mac = state.split(".")
    client.cookies.clear()
    client.cookies.set("lakeplane_sso", body + "." + mac[::-1], path="/api/v1/auth/sso/callback")
    resp = await client.get("/api/v1/auth/sso/callback", params={"code": "sub-7:mallory"})
    assert resp.status_code == 401
    async with lp.sessions() as db:
        assert await db.scalar(select(User).where(User.username == "mallory")) is None
