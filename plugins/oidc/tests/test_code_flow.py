"""Browser sign-in through a real Keycloak, driven with httpx: roles, refusals, bad answers."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from lakeplane_oidc import OidcAuthProvider
from sqlalchemy import select, update

from lakeplane.db.models import AuditEvent, User
from lakeplane.errors import NotAuthenticated
from lakeplane.runtime import Services
from lakeplane.testing.auth import person
from lakeplane.web.state import services

from .conftest import (
    callback_params,
    keycloak_sign_in,
    oidc_app,
    oidc_options,
    sign_in,
    unreachable_issuer_options,
)

pytestmark = pytest.mark.keycloak


def provider_of(lp: Services) -> OidcAuthProvider:
    from lakeplane.domain.auth.services import auth_provider

    found = auth_provider(lp)
    assert isinstance(found, OidcAuthProvider)
    return found


async def audit_actions(lp: Services, user_id: str) -> list[tuple[str, str, dict]]:
    async with lp.sessions() as db:
        rows = await db.scalars(
            select(AuditEvent).where(AuditEvent.target_id == user_id).order_by(AuditEvent.occurred_at)
        )
        return [(e.action, e.outcome, e.details or {}) for e in rows]


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


async def test_groups_become_roles_and_a_group_removed_in_keycloak_removes_the_role(client, lp, realm):
    done = await sign_in(client, "bob")
    assert done.status_code in (302, 303), done.text
    me = (await client.get("/api/v1/auth/me")).json()
    assert me["username"] == "bob" and me["via"] == "session" and not me["is_admin"]
    assert me["workspaces"] == {"sales": "editor", "ops": "viewer"}
    async with lp.sessions() as db:
        user = await db.scalar(select(User).where(User.username == "bob"))
    assert user.auth_provider == "oidc" and user.subject == f"{realm.issuer} {await realm.user_id('bob')}"
    actions = await audit_actions(lp, user.id)
    assert [(a, d["role"]) for a, _, d in actions if a == "workspace.member_set"] == [
        ("workspace.member_set", "viewer"),
        ("workspace.member_set", "editor"),
    ]

    await realm.remove_from_group("bob", "ops-viewers")
    try:
        client.cookies.clear()
        again = await sign_in(client, "bob")
        assert again.status_code in (302, 303), again.text
        me = (await client.get("/api/v1/auth/me")).json()
        assert me["workspaces"] == {"sales": "editor"}
        removed = [d for a, _, d in await audit_actions(lp, user.id) if a == "workspace.member_remove"]
        assert removed == [{"username": "bob", "role": None, "previous": "viewer", "source": "oidc"}]
    finally:
        await realm.add_to_group("bob", "ops-viewers")


async def test_an_admin_group_makes_a_global_admin(client, lp):
    done = await sign_in(client, "alice")
    assert done.status_code in (302, 303), done.text
    me = (await client.get("/api/v1/auth/me")).json()
    assert me["username"] == "alice" and me["is_admin"] is True
    users = await client.get("/api/v1/users")
    assert users.status_code == 200


async def test_a_person_without_any_role_is_refused_and_not_signed_in(client, lp):
    done = await sign_in(client, "carol")
    body = assert_problem(done, 403)
    assert "no role" in body["detail"]
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_an_unknown_person_is_refused_when_users_are_not_created(client, lp):
    provider = provider_of(lp)
    provider.create_users = False
    try:
        done = await sign_in(client, "erin")
    finally:
        provider.create_users = True
    body = assert_problem(done, 401)
    assert "no Lakeplane account" in body["detail"]
    async with lp.sessions() as db:
        assert await db.scalar(select(User).where(User.username == "erin")) is None


async def test_a_person_disabled_in_keycloak_cannot_sign_in(client, lp, realm):
    await realm.set_enabled("dave", False)
    try:
        begun = await client.post("/api/v1/auth/sso/begin")
        answer = await keycloak_sign_in(begun.json()["url"], "dave")
    finally:
        await realm.set_enabled("dave", True)
    assert answer.status_code == 200 and "disabled" in answer.text.lower()
    assert "location" not in answer.headers


async def test_a_person_disabled_in_lakeplane_cannot_sign_in(client, lp):
    assert (await sign_in(client, "dave")).status_code in (302, 303)
    async with lp.sessions() as db, db.begin():
        await db.execute(update(User).where(User.username == "dave").values(disabled=True))
    try:
        client.cookies.clear()
        body = assert_problem(await sign_in(client, "dave"), 401)
        assert "disabled" in body["detail"]
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    finally:
        async with lp.sessions() as db, db.begin():
            await db.execute(update(User).where(User.username == "dave").values(disabled=False))


async def test_a_mismatched_state_is_refused(client):
    begun = await client.post("/api/v1/auth/sso/begin")
    params = await callback_params(begun.json()["url"], "bob")
    params["state"] = "x" + params["state"][1:]
    assert_problem(await client.get("/api/v1/auth/sso/callback", params=params), 401)
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_a_replayed_callback_signs_no_one_in(client):
    begun = await client.post("/api/v1/auth/sso/begin")
    state_cookie = client.cookies.get("lakeplane_sso")
    params = await callback_params(begun.json()["url"], "bob")
    assert (await client.get("/api/v1/auth/sso/callback", params=params)).status_code in (302, 303)
    client.cookies.clear()
    client.cookies.set("lakeplane_sso", state_cookie, path="/api/v1/auth/sso/callback")
    assert_problem(await client.get("/api/v1/auth/sso/callback", params=params), 401)
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_a_callback_without_the_state_cookie_is_refused(client):
    begun = await client.post("/api/v1/auth/sso/begin")
    params = await callback_params(begun.json()["url"], "bob")
    client.cookies.clear()
    assert_problem(await client.get("/api/v1/auth/sso/callback", params=params), 401)


async def test_a_wrong_nonce_is_refused(lp):
    provider = provider_of(lp)
    redirect_uri = "http://testserver/api/v1/auth/sso/callback"
    begun = await provider.begin_login(redirect_uri)
    params = await callback_params(begun.url, "bob")
    with pytest.raises(NotAuthenticated, match="nonce"):
        await provider.complete_login(redirect_uri, params, {**begun.state, "nonce": "another-nonce"})


async def test_a_missing_nonce_is_refused(lp):
    provider = provider_of(lp)
    redirect_uri = "http://testserver/api/v1/auth/sso/callback"
    begun = await provider.begin_login(redirect_uri)
    without_nonce = httpx.URL(begun.url).copy_remove_param("nonce")
    params = await callback_params(str(without_nonce), "bob")
    with pytest.raises(NotAuthenticated, match="nonce"):
        await provider.complete_login(redirect_uri, params, begun.state)


async def test_a_tampered_id_token_is_refused(lp):
    provider = provider_of(lp)
    redirect_uri = "http://testserver/api/v1/auth/sso/callback"
    begun = await provider.begin_login(redirect_uri)
    params = await callback_params(begun.url, "bob")
    token = await provider._exchange(redirect_uri, params["code"], begun.state["verifier"])
    header, payload, signature = token["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (await provider.validate_id_token(token["id_token"], begun.state["nonce"]))["sub"] == claims["sub"]
    claims["preferred_username"] = "alice"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(NotAuthenticated):
        await provider.validate_id_token(f"{header}.{forged}.{signature}", begun.state["nonce"])


async def test_the_break_glass_local_admin_signs_in_beside_sso(client, lp):
    admin, _ = await person(lp, "breakglass", is_admin=True)
    resp = await client.post(
        "/api/v1/auth/login", json={"username": admin.username, "password": "correct horse battery staple"}
    )
    assert resp.status_code == 200, resp.text
    assert (await client.get("/api/v1/auth/me")).json()["is_admin"] is True


async def test_local_sign_in_is_off_unless_configured(postgres_service, realm, lp):
    app = await oidc_app(postgres_service.url, oidc_options(realm, local_sign_in=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as other:  # type: ignore[arg-type]
        resp = await other.post(
            "/api/v1/auth/login", json={"username": "root", "password": "whatever at all"}
        )
    assert resp.status_code == 404


async def test_an_unreachable_identity_provider_gives_503_quickly_and_local_sign_in_still_works(
    postgres_service,
):
    app = await oidc_app(postgres_service.url, unreachable_issuer_options(timeout_s=2))
    from lakeplane.web.state import services

    lp = services(app.state)
    admin, _ = await person(lp, "breakglass", is_admin=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as other:  # type: ignore[arg-type]
        assert_problem(await other.post("/api/v1/auth/sso/begin"), 503)
        resp = await other.post(
            "/api/v1/auth/login",
            json={"username": admin.username, "password": "correct horse battery staple"},
        )
        assert resp.status_code == 200, resp.text
    await lp.engine.dispose()


async def test_sign_out_url_ends_the_keycloak_session(lp, realm):
    provider = provider_of(lp)
    url = httpx.URL(await provider.logout_url("http://testserver/ui/signin", "an-id-token"))
    assert str(url).startswith(realm.issuer + "/protocol/openid-connect/logout")
    assert url.params["id_token_hint"] == "an-id-token"
    assert url.params["post_logout_redirect_uri"] == "http://testserver/ui/signin"


async def test_an_identity_provider_that_never_answers_gives_503_after_the_timeout(postgres_service):
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept, read nothing back, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options = {"issuer": f"http://127.0.0.1:{port}/realms/x", "client_id": "x", "timeout_s": 1}
    app = await oidc_app(postgres_service.url, options)
    try:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            body = assert_problem(await other.post("/api/v1/auth/sso/begin"), 503)
        assert "did not answer within 1 s" in body["detail"]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await services(app.state).engine.dispose()
