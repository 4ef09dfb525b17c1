"""IdP-issued access tokens on /api/v1: service accounts, bad tokens, key rotation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from lakeplane.testing.app import make_user

from .conftest import CI_SECRET, callback_params
from .test_code_flow import assert_problem, provider_of

pytestmark = pytest.mark.keycloak


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_a_service_account_token_is_mapped_to_a_user_and_its_group_role(client, realm):
    token = await realm.client_token("lakeplane-ci", CI_SECRET)
    resp = await me(client, token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["username"] == "service-account-lakeplane-ci" and body["via"] == "token"
    assert body["is_service_account"] is True and body["workspaces"] == {"sales": "viewer"}
    assert (
        await client.get("/api/v1/workspaces/sales", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    assert (
        await client.get("/api/v1/workspaces/ops", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 404
    # The same token again: answered from the cache, same identity.
    assert (await me(client, token)).json()["user_id"] == body["user_id"]


async def test_lakeplane_api_tokens_keep_working_beside_idp_tokens(client, lp):
    async with lp.sessions() as db:
        _, token = await make_user(db, "token-user")
    resp = await me(client, token)
    assert resp.status_code == 200 and resp.json()["username"] == "token-user"


async def test_a_token_from_another_issuer_is_refused(client, realm):
    token = await realm.client_token("lakeplane-ci", CI_SECRET, host="localhost")
    assert claims_of(token)["iss"].startswith("http://localhost:")
    assert "issued by another" in assert_problem(await me(client, token), 401)["detail"]


async def test_a_token_for_another_audience_is_refused(client, realm):
    token = await realm.client_token("other-app", "other-app-test-secret")
    assert "lakeplane-api" not in str(claims_of(token).get("aud"))
    assert "audience" in assert_problem(await me(client, token), 401)["detail"]


async def test_an_expired_token_is_refused(client, realm):
    token = await realm.client_token("lakeplane-ci-short", "lakeplane-ci-short-test-secret")
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] <= 2
    await asyncio.sleep(max(0.0, claims["exp"] + 1.5 - time.time()))
    assert "expired" in assert_problem(await me(client, token), 401)["detail"]


async def test_alg_none_is_refused(client, realm):
    token = await realm.client_token("lakeplane-ci", CI_SECRET)
    header = {"alg": "none", "typ": "JWT", "kid": header_of(token)["kid"]}
    unsigned = f"{b64(header)}.{token.split('.')[1]}."
    assert "'none'" in assert_problem(await me(client, unsigned), 401)["detail"]


async def test_hs256_signed_with_the_public_key_is_refused(client, realm):
    token = await realm.client_token("lakeplane-ci", CI_SECRET)
    kid = header_of(token)["kid"]
    async with httpx.AsyncClient(trust_env=False) as http:
        jwks = (await http.get(f"{realm.issuer}/protocol/openid-connect/certs")).json()
    public = RSAKey.import_key(next(k for k in jwks["keys"] if k["kid"] == kid))
    pem = public.as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{token.split('.')[1]}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert "HS256" in assert_problem(await me(client, forged), 401)["detail"]


async def test_an_unknown_kid_is_refused_after_the_jwks_is_fetched_again(client, realm):
    token = await realm.client_token("lakeplane-ci", CI_SECRET)
    ours = RSAKey.generate_key(2048, parameters={"kid": "not-published"})
    forged = jwt.encode({"alg": "RS256", "kid": "not-published"}, claims_of(token), ours)
    assert "does not publish" in assert_problem(await me(client, forged), 401)["detail"]


async def test_an_id_token_is_not_accepted_as_an_access_token(client, lp):
    provider = provider_of(lp)
    redirect_uri = "http://testserver/api/v1/auth/sso/callback"
    begun = await provider.begin_login(redirect_uri)
    params = await callback_params(begun.url, "bob")
    id_token = (await provider._exchange(redirect_uri, params["code"], begun.state["verifier"]))["id_token"]
    assert "ID token" in assert_problem(await me(client, id_token), 401)["detail"]


async def test_a_token_of_a_user_disabled_in_lakeplane_is_refused(client, lp, realm):
    from sqlalchemy import update

    from lakeplane.db.models import User
    from lakeplane.domain.auth.principals import forget_user

    token = await realm.client_token("lakeplane-ci", CI_SECRET)
    user_id = (await me(client, token)).json()["user_id"]
    async with lp.sessions() as db, db.begin():
        await db.execute(update(User).where(User.id == user_id).values(disabled=True))
    forget_user(lp, user_id)
    try:
        assert "disabled" in assert_problem(await me(client, token), 401)["detail"]
    finally:
        async with lp.sessions() as db, db.begin():
            await db.execute(update(User).where(User.id == user_id).values(disabled=False))
        forget_user(lp, user_id)


async def test_a_key_rotated_in_keycloak_is_picked_up_without_a_restart(client, realm):
    before = await realm.client_token("lakeplane-ci", CI_SECRET)
    assert (await me(client, before)).status_code == 200
    new_kid = await realm.rotate_keys()
    after = await realm.client_token("lakeplane-ci", CI_SECRET)
    assert header_of(after)["kid"] == new_kid != header_of(before)["kid"]
    resp = await me(client, after)
    assert resp.status_code == 200, resp.text
    assert resp.json()["username"] == "service-account-lakeplane-ci"
