"""Fixtures for the OIDC tests: the session's Keycloak with the test realm, and an app using it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lakeplane.db.models import Workspace
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.testing.contracts import unreachable_url
from lakeplane.testing.keycloak import KeycloakAdmin, KeycloakService
from lakeplane.web.app import create_app
from lakeplane.web.state import services

REALM_FILE = Path(__file__).with_name("realm.json")
WEB_SECRET = "lakeplane-web-test-secret"
CI_SECRET = "lakeplane-ci-test-secret"
PASSWORDS = {name: f"{name}-password-1" for name in ("alice", "bob", "carol", "dave", "erin")}
FORM_ACTION = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)


@pytest.fixture(scope="session")
async def realm(keycloak_service: KeycloakService) -> KeycloakAdmin:
    return await keycloak_service.import_realm(REALM_FILE)


def oidc_options(realm: KeycloakAdmin, **changes: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "issuer": realm.issuer,
        "client_id": "lakeplane-web",
        "client_secret": WEB_SECRET,
        "display_name": "Keycloak",
        "audience": "lakeplane-api",
        "local_sign_in": True,
        "require_role": True,
        "jwks_refresh_s": 0,
        "clock_skew_s": 1,
        "timeout_s": 5,
        "roles": {
            "admin_groups": ["lakeplane-admins"],
            "workspaces": {
                "sales": {
                    "admin": ["sales-admins"],
                    "editor": ["sales-editors"],
                    "viewer": ["sales-viewers"],
                },
                "ops": {"viewer": ["ops-viewers"]},
            },
        },
    }
    options.update(changes)
    return options


def unreachable_issuer_options(timeout_s: float) -> dict[str, Any]:
    """Options naming an issuer where nothing listens, with the local sign-in form kept."""
    return {
        "issuer": f"{unreachable_url()}/realms/none",
        "client_id": "x",
        "local_sign_in": True,
        "timeout_s": timeout_s,
    }


async def oidc_app(postgres_url: str, options: dict[str, Any]) -> Litestar:
    config = make_config(
        await create_database(postgres_url, "lp_oidc"), auth={"plugin": "oidc", "options": options}
    )
    app = create_app(config)
    async with services(app.state).sessions() as db, db.begin():
        for slug in ("sales", "ops"):
            db.add(Workspace(id=new_id("ws"), slug=slug, name=slug.title()))
    return app


@pytest.fixture(scope="module")
async def app(postgres_service: Any, realm: KeycloakAdmin) -> AsyncIterator[Litestar]:
    made = await oidc_app(postgres_service.url, oidc_options(realm))
    yield made
    await services(made.state).engine.dispose()


@pytest.fixture
def lp(app: Litestar) -> Services:
    return services(app.state)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://testserver",
        follow_redirects=False,
    ) as made:
        yield made


async def keycloak_sign_in(authorize_url: str, username: str, password: str | None = None) -> httpx.Response:
    """Drive Keycloak's real login form; the answer is its redirect back (or the form again)."""
    async with httpx.AsyncClient(timeout=60, trust_env=False, follow_redirects=True) as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200, page.text[:500]
        found = FORM_ACTION.search(page.text)
        assert found is not None, page.text[-1500:]
        # Keycloak marks its cookies Secure, which a browser honours on loopback but httpx
        # does not: send them back by hand.
        jar = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies.jar)
        browser.follow_redirects = False
        return await browser.post(
            html.unescape(found.group(1)),
            data={"username": username, "password": password or PASSWORDS[username], "credentialId": ""},
            headers={"Cookie": jar},
        )


async def callback_params(authorize_url: str, username: str) -> dict[str, str]:
    answer = await keycloak_sign_in(authorize_url, username)
    assert answer.status_code == 302, answer.text[:500]
    return dict(httpx.URL(answer.headers["location"]).params)


async def sign_in(client: httpx.AsyncClient, username: str) -> httpx.Response:
    """The whole browser sign-in through the API routes; the callback's response."""
    begun = await client.post("/api/v1/auth/sso/begin")
    assert begun.status_code == 200, begun.text
    params = await callback_params(begun.json()["url"], username)
    return await client.get("/api/v1/auth/sso/callback", params=params)
