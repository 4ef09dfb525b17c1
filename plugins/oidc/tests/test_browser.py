"""Single sign-on in a real browser: headless Debian chromium driven by Playwright, through
Keycloak's own login form, against the real server (``lakeplane serve``)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lakeplane import config as config_module
from lakeplane.db.models import Workspace
from lakeplane.ids import new_id
from lakeplane.local.ports import free_ports
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database
from lakeplane.testing.fixtures import wait_http
from lakeplane.testing.keycloak import KeycloakAdmin

from .conftest import PASSWORDS, WEB_SECRET

pytestmark = pytest.mark.keycloak

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def config_text(db_url: str, realm: KeycloakAdmin) -> str:
    def q(value: str) -> str:
        return json.dumps(value)

    return f"""
[database]
url = {q(db_url)}

[security]
session_key = {q(secrets.token_urlsafe(48))}
primary_key_id = "k1"

[security.encryption_keys]
k1 = {q(secrets.token_urlsafe(32))}

[auth]
plugin = "oidc"

[auth.options]
issuer = {q(realm.issuer)}
client_id = "lakeplane-web"
client_secret = {q(WEB_SECRET)}
display_name = "Keycloak"
local_sign_in = true

[auth.options.roles]
admin_groups = ["lakeplane-admins"]

[auth.options.roles.workspaces.sales]
editor = ["sales-editors"]
viewer = ["sales-viewers"]
"""


@pytest.fixture(scope="module")
async def server(
    postgres_service: Any, realm: KeycloakAdmin, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("needs Debian chromium: apt-get install -y chromium (scripts/ensure-system-packages)")
    db_url = await create_database(postgres_service.url, "lp_oidc_e2e")
    home = tmp_path_factory.mktemp("oidc-e2e")
    config_path = home / "lakeplane.toml"
    config_path.write_text(config_text(db_url, realm))
    lp = Services.build(config_module.load(config_path))
    async with lp.sessions() as db, db.begin():
        db.add(Workspace(id=new_id("ws"), slug="sales", name="Sales"))
    await lp.engine.dispose()
    (port,) = free_ports(1)
    log = home / "server.log"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("lakeplane")),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, "LAKEPLANE_CONFIG": str(config_path)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health/live", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_sign_in_with_keycloak_and_out_again_in_a_real_browser(
    server: str, realm: KeycloakAdmin
) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{server}/ui/signin")
            await page.get_by_role("link", name="Sign in with Keycloak").click()
            await page.wait_for_url(f"{realm.issuer}/**")
            await page.fill("#username", "bob")
            await page.fill("#password", PASSWORDS["bob"])
            await page.click("#kc-login")
            await page.wait_for_url(f"{server}/ui/**")
            assert "bob" in await page.content()
            me = await page.request.get(f"{server}/api/v1/auth/me")
            assert (await me.json())["workspaces"] == {"sales": "editor"}

            await page.locator("form[action='/ui/signout'] button").click()
            await page.wait_for_url(f"{server}/ui/signin?signed_out=1")
            assert "You are signed out" in await page.content()
            # The Keycloak session ended too: the button asks for the password again.
            await page.get_by_role("link", name="Sign in with Keycloak").click()
            await page.wait_for_url(f"{realm.issuer}/**")
            assert await page.locator("#password").is_visible()

            # A wrong password stays at Keycloak; no one is signed in here.
            await page.fill("#username", "bob")
            await page.fill("#password", "not-the-password")
            await page.click("#kc-login")
            await expect(page.get_by_text("Invalid username or password")).to_be_visible()
            assert page.url.startswith(realm.issuer)
            me = await page.request.get(f"{server}/api/v1/auth/me")
            assert me.status == 401
        finally:
            await browser.close()
