"""Sign-in, sessions, tokens, members and the audit API, as a client sees them."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select, update

from lakeplane.cli import main
from lakeplane.db.models import ApiToken, AuditEvent, User, UserSession
from lakeplane.domain import audit
from lakeplane.domain.auth.services import BOOTSTRAP_ENV
from lakeplane.testing.auth import PASSWORD, bearer, person, sign_in, unique
from lakeplane.web.app import create_app

from .conftest import new_workspace


async def rows(lp: Any, model: Any, *where: Any) -> int:
    async with lp.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(client, lp):
    user, _ = await person(lp, "ada")
    resp = await client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    cookie = resp.headers["set-cookie"]
    assert "lakeplane_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # server.tls is off in tests
    csrf = resp.json()["csrf_token"]
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    assert me.json()["via"] == "session"
    old_cookie = client.cookies.get("lakeplane_session")
    assert (await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
    client.cookies.set("lakeplane_session", old_cookie)
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert await rows(lp, UserSession, UserSession.user_id == user.id) == 0


async def test_every_login_gets_a_fresh_session_id(client, lp):
    user, _ = await person(lp, "fresh")
    await sign_in(client, user.username)
    first = client.cookies.get("lakeplane_session")
    await sign_in(client, user.username)
    second = client.cookies.get("lakeplane_session")
    assert first and second and first != second
    client.cookies.set("lakeplane_session", first)
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert await rows(lp, UserSession, UserSession.user_id == user.id) == 1


async def test_secure_cookie_when_served_over_tls(auth_config, lp, clients):
    tls_config = msgspec.structs.replace(
        auth_config, server=msgspec.structs.replace(auth_config.server, tls=True)
    )
    user, _ = await person(lp, "tls")
    client = await clients(create_app(tls_config), base_url="https://testserver.local")
    resp = await client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200
    assert "Secure" in resp.headers["set-cookie"]


async def test_idle_and_absolute_timeouts_end_sessions(client, lp):
    user, _ = await person(lp, "idle")
    await sign_in(client, user.username)
    assert (await client.get("/api/v1/auth/me")).status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=lp.config.security.session_idle_minutes + 1)
    async with lp.sessions() as db, db.begin():
        await db.execute(update(UserSession).where(UserSession.user_id == user.id).values(last_seen_at=past))
    assert (await client.get("/api/v1/auth/me")).status_code == 401

    await sign_in(client, user.username)
    async with lp.sessions() as db, db.begin():
        await db.execute(
            update(UserSession)
            .where(UserSession.user_id == user.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_password_change_ends_other_sessions_and_tokens(client, lp, auth_app, clients):
    user, token = await person(lp, "changer")
    other = await clients(auth_app)
    await sign_in(other, user.username)
    csrf = await sign_in(client, user.username)
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
    new_password = "a whole new passphrase 42"
    resp = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status_code == 200, resp.text
    assert (await client.get("/api/v1/auth/me")).status_code == 200  # renewed in the reply
    assert (await other.get("/api/v1/auth/me")).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    await sign_in(other, user.username, new_password)


async def test_wrong_current_password_changes_nothing(client, lp):
    user, _ = await person(lp, "wrongcur")
    csrf = await sign_in(client, user.username)
    resp = await client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "another long passphrase"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status_code == 403
    async with lp.sessions() as db:
        assert (await db.get(User, user.id)).password_hash == user.password_hash


async def test_tokens_are_shown_once_listed_with_last_use_and_revocable(client, lp):
    _, token = await person(lp, "tokens")
    created = await client.post(
        "/api/v1/tokens",
        json={"name": "ci", "scopes": ["viewer"], "expires_in_days": 7},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("lp_")
    assert (await client.get("/api/v1/auth/me", headers=bearer(secret))).json()["scopes"] == ["viewer"]
    listed = (await client.get("/api/v1/tokens", headers=bearer(token))).json()["items"]
    mine = next(t for t in listed if t["id"] == created.json()["info"]["id"])
    assert mine["last_used_at"] is not None
    assert "token" not in mine and secret not in json.dumps(listed)
    async with lp.sessions() as db:
        stored = await db.get(ApiToken, mine["id"])
        assert stored.token_hash != secret and secret not in stored.token_hash


async def test_service_account_tokens_are_made_by_admins(client, lp):
    _, admin_token = await person(lp, "root", is_admin=True)
    created = await client.post(
        "/api/v1/users",
        json={"username": unique("etl-bot"), "is_service_account": True},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    minted = await client.post(
        f"/api/v1/users/{bot['id']}/tokens",
        json={"name": "nightly", "scopes": ["editor"]},
        headers=bearer(admin_token),
    )
    assert minted.status_code == 201, minted.text
    bot_token = minted.json()["token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(bot_token))).json()[
        "is_service_account"
    ] is True
    # A service account cannot sign in with a password: it has none.
    resp = await client.post("/api/v1/auth/login", json={"username": bot["username"], "password": "x" * 20})
    assert resp.status_code == 401
    # Admins do not mint tokens for people.
    human, _ = await person(lp, "human")
    resp = await client.post(
        f"/api/v1/users/{human.id}/tokens", json={"name": "sneaky"}, headers=bearer(admin_token)
    )
    assert resp.status_code == 422
    revoke = await client.delete(
        f"/api/v1/users/{bot['id']}/tokens/{minted.json()['info']['id']}", headers=bearer(admin_token)
    )
    assert revoke.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(bot_token))).status_code == 401


async def test_workspace_admin_manages_members_and_role_change_ends_sessions(client, lp, auth_app, clients):
    _, admin_token = await person(lp, "root", is_admin=True)
    ws = await new_workspace(client, admin_token, "Grid")
    ws_admin, ws_admin_token = await person(lp, "wsadmin", roles={ws["id"]: "admin"})
    member, member_token = await person(lp, "member")
    url = f"/api/v1/workspaces/{ws['slug']}/members/{member.username}"
    resp = await client.put(url, json={"role": "editor"}, headers=bearer(ws_admin_token))
    assert resp.status_code == 200, resp.text
    # A fresh grant keeps the member's credentials; a change ends them.
    assert (await client.get("/api/v1/auth/me", headers=bearer(member_token))).status_code == 200
    browser = await clients(auth_app)
    await sign_in(browser, member.username)
    resp = await client.put(url, json={"role": "viewer"}, headers=bearer(ws_admin_token))
    assert resp.status_code == 200
    assert (await browser.get("/api/v1/auth/me")).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(member_token))).status_code == 401
    members = (
        await client.get(f"/api/v1/workspaces/{ws['slug']}/members", headers=bearer(ws_admin_token))
    ).json()
    assert {m["username"]: m["role"] for m in members}[member.username] == "viewer"
    assert (await client.delete(url, headers=bearer(ws_admin_token))).status_code == 204
    assert ws_admin.username in {m["username"] for m in members}


async def test_admin_disables_a_user_and_their_credentials_die_at_once(client, lp):
    _, admin_token = await person(lp, "root", is_admin=True)
    user, token = await person(lp, "leaver")
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200  # now cached
    resp = await client.patch(
        f"/api/v1/users/{user.id}", json={"disabled": True}, headers=bearer(admin_token)
    )
    assert resp.status_code == 200, resp.text
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    resp = await client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 401


async def test_audit_api_filters_pages_and_exports_json_lines(client, lp):
    _, admin_token = await person(lp, "auditor", is_admin=True)
    user, _ = await person(lp, "audited")
    for _ in range(3):
        await client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": "wrong password!"}
        )
    await sign_in(client, user.username)
    client.cookies.clear()
    params = {"actor": user.username, "action": "auth.login", "limit": 2}
    first = await client.get("/api/v1/audit", params=params, headers=bearer(admin_token))
    assert first.status_code == 200, first.text
    body = first.json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    second = await client.get(
        "/api/v1/audit", params={**params, "cursor": body["next_cursor"]}, headers=bearer(admin_token)
    )
    seen = [e["seq"] for e in body["items"]] + [e["seq"] for e in second.json()["items"]]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen)
    failures = await client.get(
        "/api/v1/audit", params={"actor": user.username, "outcome": "failure"}, headers=bearer(admin_token)
    )
    assert len(failures.json()["items"]) == 3
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    export = await client.get(
        "/api/v1/audit/export", params={"actor": user.username, "since": since}, headers=bearer(admin_token)
    )
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = export.text.strip().split("\n")
    assert len(lines) == 4
    assert all(json.loads(line)["actor"] == user.username for line in lines)
    verdict = await client.get("/api/v1/audit/verify", headers=bearer(admin_token))
    assert verdict.json()["ok"] is True


async def test_bootstrap_secret_works_once(fresh, clients, monkeypatch):
    secret = "b" * 8 + "ootstrap-secret-of-enough-length-123"
    monkeypatch.setenv(BOOTSTRAP_ENV, secret)
    body = {"token": secret, "username": "first-admin", "password": "a long admin passphrase"}
    client = await clients(fresh[0])
    wrong = await client.post("/api/v1/auth/bootstrap", json={**body, "token": "nope"})
    assert wrong.status_code == 404
    made = await client.post("/api/v1/auth/bootstrap", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["is_admin"] is True
    again = await client.post("/api/v1/auth/bootstrap", json={**body, "username": "second-admin"})
    assert again.status_code == 404
    assert again.json()["detail"] == wrong.json()["detail"]
    await sign_in(client, "first-admin", body["password"])


async def test_bootstrap_is_dead_without_the_environment_variable(client, monkeypatch):
    monkeypatch.delenv(BOOTSTRAP_ENV, raising=False)
    body = {"token": "", "username": "x-admin", "password": "a long admin passphrase"}
    resp = await client.post("/api/v1/auth/bootstrap", json={**body, "token": "anything"})
    assert resp.status_code == 404


async def test_cli_create_admin_reads_stdin_and_refuses_duplicates(lp, monkeypatch, capsys):
    security = lp.config.security
    monkeypatch.setenv("LAKEPLANE_DATABASE__URL", lp.config.database.url)
    monkeypatch.setenv("LAKEPLANE_SECURITY__SESSION_KEY", security.session_key)
    monkeypatch.setenv("LAKEPLANE_SECURITY__ENCRYPTION_KEYS__K1", security.encryption_keys["k1"])
    monkeypatch.setenv("LAKEPLANE_SECURITY__PRIMARY_KEY_ID", "k1")
    monkeypatch.delenv("LAKEPLANE_CONFIG", raising=False)
    name = unique("cli-admin")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long admin passphrase\n"))
    import asyncio

    assert await asyncio.to_thread(main, ["users", "create-admin", name]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long admin passphrase\n"))
    assert await asyncio.to_thread(main, ["users", "create-admin", name]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lakeplane: error: user {name!r} already exists"]
    async with lp.sessions() as db:
        user = await db.scalar(select(User).where(User.username == name))
    assert user is not None and user.is_admin and user.password_hash.startswith("$argon2id$")


async def test_audit_log_lines_cannot_be_forged(client, lp, caplog):
    forged = 'mallory\r\n2026-01-01 INFO lakeplane.audit: audit {"actor":"admin"}\u2028<script>'
    with caplog.at_level(logging.INFO, logger="lakeplane.audit"):
        resp = await client.post(
            "/api/v1/auth/login", json={"username": forged, "password": "whatever it is"}
        )
    assert resp.status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "lakeplane.audit"]
    assert lines
    for line in lines:
        assert "\n" not in line and "\r" not in line and "\u2028" not in line
    async with lp.sessions() as db:
        event = await db.scalar(
            select(AuditEvent).where(AuditEvent.actor_name == forged).order_by(AuditEvent.seq.desc())
        )
    assert event is not None and event.outcome == "failure"
    assert json.loads(audit.log_line(event).encode())["actor"] == forged


@pytest.mark.parametrize(
    "bad", ["admin'; DROP TABLE users;--", "<script>x</script>", "a\r\nb", "a\x00b", "é" * 3]
)
async def test_user_names_with_sql_html_or_control_characters_are_refused(client, lp, bad):
    _, admin_token = await person(lp, "root", is_admin=True)
    before = await rows(lp, User)
    resp = await client.post(
        "/api/v1/users",
        json={"username": bad, "password": "a long enough password"},
        headers=bearer(admin_token),
    )
    assert resp.status_code in (400, 422)
    assert await rows(lp, User) == before


async def test_markup_in_display_names_is_stored_verbatim(client, lp):
    _, admin_token = await person(lp, "root", is_admin=True)
    shown = "<b onmouseover=alert(1)>Bob</b> '; DROP TABLE users;--"
    resp = await client.post(
        "/api/v1/users",
        json={"username": unique("bob"), "display_name": shown, "password": "a long enough password"},
        headers=bearer(admin_token),
    )
    assert resp.status_code == 201
    assert resp.json()["display_name"] == shown
    bad = await client.patch(
        f"/api/v1/users/{resp.json()['id']}", json={"display_name": "x\r\ny"}, headers=bearer(admin_token)
    )
    assert bad.status_code in (400, 422)
