"""``lakeplane local up --keycloak``: the config it writes, and its demo realm in a real Keycloak."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakeplane import config as config_module
from lakeplane import plugins
from lakeplane.local import keycloak
from lakeplane.local.cli import demo_users
from lakeplane.local.stack import LocalStack, StackState, render_config
from lakeplane.testing.keycloak import KeycloakService
from lakeplane.web.state import services

from .conftest import keycloak_sign_in, oidc_app

pytestmark = pytest.mark.keycloak


def test_the_stack_config_signs_in_through_the_demo_realm(tmp_path: Path) -> None:
    state = StackState(keycloak=True)
    text = render_config(state, "postgresql+asyncpg://lakeplane:pw@127.0.0.1:5432/lakeplane")
    raw = tomllib.loads(text)
    assert raw["auth"]["plugin"] == "oidc"
    options = raw["auth"]["options"]
    assert options["issuer"] == f"http://127.0.0.1:{state.ports['keycloak']}/realms/lakeplane"
    assert options["client_secret"] == state.keycloak_client_secret and options["local_sign_in"] is True
    (tmp_path / "lakeplane.toml").write_text(text)
    config = config_module.load(tmp_path / "lakeplane.toml", environ={})
    selection = plugins.select(config, plugins.load().registry)
    assert selection.auth.impl.name == "oidc"
    assert selection.auth.options.roles.admin_groups == ["lakeplane-admins"]
    assert tomllib.loads(render_config(StackState(), "postgresql://x"))["auth"] == {"plugin": "local"}


def test_the_choice_and_the_demo_users_are_kept_in_stack_json(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "stack", with_api=False, keycloak=True)
    state = stack._state(create=True)
    stack.data_dir.mkdir()
    stack._write_files(state)
    again = LocalStack(tmp_path / "stack", with_api=False)._state()
    assert again.keycloak is True and again.demo_passwords == state.demo_passwords
    assert any(
        isinstance(c, keycloak.DemoKeycloakComponent) for c in LocalStack(tmp_path / "stack").components()
    )
    lines = demo_users(stack.state_path)
    assert any("demo-admin" in line and state.demo_passwords["demo-admin"] in line for line in lines)


async def test_the_demo_realm_signs_the_demo_admin_in_as_an_administrator(
    keycloak_service: KeycloakService, postgres_service: Any
) -> None:
    passwords = {"demo-admin": "demo-admin-pw-1", "demo-analyst": "demo-analyst-pw-1"}
    realm = keycloak.demo_realm("http://testserver", "demo-secret", passwords)
    admin = await keycloak_service.import_realm(realm)
    app = await oidc_app(
        postgres_service.url,
        {
            "issuer": admin.issuer,
            "client_id": keycloak.DEMO_CLIENT,
            "client_secret": "demo-secret",
            "roles": {"admin_groups": ["lakeplane-admins"]},
        },
    )
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        begun = await client.post("/api/v1/auth/sso/begin")
        answer = await keycloak_sign_in(begun.json()["url"], "demo-admin", passwords["demo-admin"])
        assert answer.status_code == 302, answer.text[:300]
        params = dict(httpx.URL(answer.headers["location"]).params)
        assert (await client.get("/api/v1/auth/sso/callback", params=params)).status_code in (302, 303)
        me = (await client.get("/api/v1/auth/me")).json()
    assert me["username"] == "demo-admin" and me["is_admin"] is True
    await services(app.state).engine.dispose()
