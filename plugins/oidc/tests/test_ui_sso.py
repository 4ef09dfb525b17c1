"""The admin UI's single sign-on: the button, readable failure pages, sign-out at Keycloak too."""

from __future__ import annotations

import html

import httpx
import pytest

from lakeplane.web.state import services

from .conftest import callback_params, oidc_app, unreachable_issuer_options

pytestmark = pytest.mark.keycloak


async def ui_sign_in(client: httpx.AsyncClient, username: str) -> httpx.Response:
    begun = await client.get("/ui/sso")
    assert begun.status_code == 303, begun.text
    assert begun.headers["location"].startswith("http://127.0.0.1:")
    params = await callback_params(begun.headers["location"], username)
    return await client.get("/ui/sso/callback", params=params)


async def test_the_sign_in_page_offers_the_provider_and_the_local_form(client):
    page = await client.get("/ui/signin")
    assert page.status_code == 200
    assert "Sign in with Keycloak" in page.text and 'href="/ui/sso"' in page.text
    assert 'name="password"' in page.text


async def test_signing_in_and_out_through_keycloak(client, realm):
    done = await ui_sign_in(client, "bob")
    assert done.status_code == 303 and done.headers["location"] == "/ui/"
    home = await client.get("/ui/")
    assert home.status_code == 200 and "bob" in home.text
    csrf = home.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    out = await client.post("/ui/signout", data={"csrf_token": csrf})
    assert out.status_code == 200 and "Signed out of Lakeplane" in out.text
    target = out.text.split('id="sso-signout" href="', 1)[1].split('"', 1)[0]
    logout = httpx.URL(html.unescape(target))
    assert str(logout).startswith(realm.issuer + "/protocol/openid-connect/logout")
    assert logout.params["id_token_hint"].count(".") == 2
    assert logout.params["post_logout_redirect_uri"] == "http://testserver/ui/signin?signed_out=1"
    async with httpx.AsyncClient(trust_env=False) as browser:
        ended = await browser.get(str(logout))
    assert ended.status_code == 302 and ended.headers["location"].startswith("http://testserver/ui/signin")
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_a_person_without_a_role_gets_a_page_that_says_so(client):
    done = await ui_sign_in(client, "carol")
    assert done.status_code == 403
    assert done.headers["content-type"].startswith("text/html")
    assert "no role in Lakeplane" in done.text and "Sign in with Keycloak" in done.text
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_a_bad_answer_gets_a_page_not_a_trace(client):
    begun = await client.get("/ui/sso")
    params = await callback_params(begun.headers["location"], "bob")
    done = await client.get("/ui/sso/callback", params={**params, "state": "forged"})
    assert done.status_code == 401 and done.headers["content-type"].startswith("text/html")
    assert "Single sign-on failed" in done.text and "Traceback" not in done.text


async def test_an_unreachable_identity_provider_gives_a_503_page_and_the_local_form(postgres_service):
    app = await oidc_app(postgres_service.url, unreachable_issuer_options(timeout_s=1))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        page = await other.get("/ui/sso")
    assert page.status_code == 503 and "Single sign-on is unavailable" in page.text
    assert 'name="password"' in page.text
    await services(app.state).engine.dispose()
