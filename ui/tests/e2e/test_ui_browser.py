# Long module: one browser walk through every page, in order, with the live stack it needs; split, each part would start the stack again.
"""End to end in a real browser: headless Debian chromium driven by Playwright, against
the real server (uvicorn), worker, PostgreSQL, SeaweedFS and Trino.

Screenshots of every page go to ``artifacts/screenshots/`` (not committed; CI prints
the folder). Chromium comes from Debian (``apt-get install -y chromium``); Playwright
never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.testing.fixtures import wait_http
from lakeplane_ui.testing import make_workspace, password_user, setup_sessions

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.trino]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "artifacts" / "screenshots"
RUN_WAIT_S = 120
#: Make a table with two snapshots for the catalog pages (DEMO: the schema).
SETUP_SQL = (
    "CREATE SCHEMA IF NOT EXISTS DEMO",
    "CREATE TABLE IF NOT EXISTS DEMO.readings (meter varchar, kwh double)",
    "INSERT INTO DEMO.readings VALUES ('m1', 1.5), ('m2', 2.5)",
    "INSERT INTO DEMO.readings SELECT 'm' || CAST(n AS varchar), n FROM UNNEST(sequence(3, 12)) t(n)",
)


def label(text: str) -> re.Pattern[str]:
    """A field's label, with or without the required-field star."""
    return re.compile(rf"^{re.escape(text)}( \*)?$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(raw: dict[str, Any]) -> str:
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


@dataclass
class Stack:
    url: str
    lp: Services
    workspace: Any
    admin: tuple[str, str]
    viewer: tuple[str, str]
    trino: Any
    seaweedfs: Any


@pytest.fixture(scope="session")
def browser_available() -> None:
    # A missing browser is a broken set-up, not a reason to pass: `make test` installs it.
    if not Path(CHROMIUM).exists():
        pytest.fail("needs Debian chromium: apt-get install -y chromium (scripts/ensure-system-packages)")
    import playwright  # noqa: F401  (ui[test] installs it; an ImportError fails the test)


@pytest.fixture(scope="session")
async def stack(
    browser_available: None,
    postgres_service: Any,
    seaweedfs_service: Any,
    trino_service: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    db_url = await create_database(postgres_service.url, prefix="lp_ui_e2e")
    base = make_config(db_url)
    raw = {
        "database": {"url": db_url},
        "security": {
            "session_key": base.security.session_key,
            "encryption_keys": dict(base.security.encryption_keys),
            "primary_key_id": base.security.primary_key_id,
            # A busy CI machine can make Trino's first answers slow.
            "connection_test_timeout_s": 90.0,
        },
        "object_store": {
            "plugin": "s3",
            "options": seaweedfs_service.s3_options(),
        },
        "engines": {"trino": {"plugin": "trino"}},
        "worker": {"poll_interval_s": 0.2},
    }
    home = tmp_path_factory.mktemp("ui-e2e")
    config_path = home / "lakeplane.toml"
    config_path.write_text(
        to_toml({k: v for k, v in raw.items() if k != "engines"}) + '[engines.trino]\nplugin = "trino"\n'
    )
    port = free_port()
    lakeplane = str(Path(sys.executable).with_name("lakeplane"))
    env = {**os.environ, "LAKEPLANE_CONFIG": str(config_path)}
    server_log, worker_log = home / "server.log", home / "worker.log"
    server = subprocess.Popen(
        [lakeplane, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=server_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [lakeplane, "worker"], env=env, stdout=worker_log.open("wb"), stderr=subprocess.STDOUT
    )
    lp = None
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health/live", server, server_log)
        from lakeplane import config as config_module

        lp = Services.build(config_module.load(config_path))
        async with setup_sessions(lp)() as db:
            ws = await make_workspace(db, "analytics")
        admin = ("ada", secrets.token_urlsafe(12))
        viewer = ("vic", secrets.token_urlsafe(12))
        await password_user(lp, admin[0], admin[1], is_admin=True)
        await password_user(lp, viewer[0], viewer[1], roles={ws.id: "viewer"})
        yield Stack(f"http://127.0.0.1:{port}", lp, ws, admin, viewer, trino_service, seaweedfs_service)
    finally:
        for proc in (worker, server):
            proc.terminate()
        for proc in (worker, server):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if lp is not None:
            await lp.engine.dispose()
        for log in (server_log, worker_log):
            if log.exists():
                (SHOTS.parent / log.name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, SHOTS.parent / f"e2e-{log.name}")


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    return SHOTS


class Pages:
    """A signed-in browser tab with helpers that read like the steps of a person."""

    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page, self.base, self.shots, self.count = page, base, shots, 0

    async def go(self, path: str) -> Any:
        return await self.page.goto(self.base + path)

    async def shot(self, name: str) -> None:
        self.count += 1
        await self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    async def sign_in(self, username: str, password: str) -> None:
        await self.go("/ui/")
        assert "/ui/signin" in self.page.url
        await self.page.get_by_label(label("User name")).fill(username)
        await self.page.get_by_label(label("Password")).fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_url(re.compile(r".*/ui/$"))

    async def wait_for_state(
        self, states: tuple[str, ...], timeout: float = RUN_WAIT_S, reload: bool = True
    ) -> str:
        """Wait for the run page to show one of ``states``; without ``reload``, only
        ui.js (log tail, auto-refresh) may bring the page up to date."""
        deadline = time.monotonic() + timeout
        while True:
            text = ""
            with contextlib.suppress(Exception):  # the page may be reloading itself
                text = (await self.page.locator("#run-state").inner_text(timeout=5000)).strip()
            if text in states:
                return text
            if time.monotonic() > deadline:
                body = await self.page.locator("main").inner_text()
                raise AssertionError(f"run stayed {text!r}, wanted {states}: {body[:3000]}")
            await asyncio.sleep(1.0)
            if reload:
                with contextlib.suppress(Exception):
                    await self.page.reload()


async def api(stack: Stack, token: str, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


async def test_the_whole_product_in_a_browser(stack: Stack, shots: Path) -> None:
    from playwright.async_api import async_playwright

    ws = stack.workspace.slug
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin"
        )
        tab = await context.new_page()
        tab.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        csp_errors: list[str] = []
        tab.on(
            "console",
            lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        ui = Pages(tab, stack.url, shots)

        # Sign in.
        await ui.go("/ui/")
        await ui.shot("01-signin")
        await ui.sign_in(*stack.admin)
        await ui.shot("02-workspaces")
        assert await tab.locator("time").count() >= 0

        # Create a Trino connection and test it.
        await ui.go(f"/ui/w/{ws}/connections/new?plugin=engine:trino")
        await tab.get_by_label(label("Name")).fill("trino")
        await tab.get_by_label(label("Host")).fill(stack.trino.host)
        await tab.get_by_label(label("Port")).fill(str(stack.trino.port))
        await tab.get_by_label(label("User")).fill("lakeplane")
        await tab.get_by_label(label("Catalog")).fill(stack.trino.catalog)
        await ui.shot("03-connection-new")
        await tab.get_by_role("button", name="Create connection").click()
        await tab.wait_for_url(re.compile(r".*/connections/conn_.*"))
        await tab.get_by_role("button", name="Test connection").click()
        await tab.wait_for_selector("#test-result")
        result = await tab.locator("#test-result").inner_text()
        assert "Test passed" in result, result
        await ui.shot("04-connection-tested")
        trino_conn_id = tab.url.split("/connections/")[1].split("?")[0].split("/")[0]

        # A catalog connection to the Iceberg REST catalog, for the catalog pages.
        sw = stack.seaweedfs
        await ui.go(f"/ui/w/{ws}/connections/new?plugin=catalog:iceberg-rest")
        await tab.get_by_label(label("Name")).fill("lake")
        await tab.get_by_label(label("Uri")).fill(sw.iceberg_uri)
        await tab.get_by_label(label("Warehouse")).fill(sw.warehouse)
        await tab.get_by_label(label("Credential")).fill(sw.credential)
        await tab.get_by_label(label("S3 endpoint")).fill(sw.s3_endpoint)
        await tab.get_by_label(label("S3 access key id")).fill(sw.access_key_id)
        await tab.get_by_label(label("S3 secret access key")).fill(sw.secret_access_key)
        await tab.get_by_role("button", name="Create connection").click()
        await tab.wait_for_url(re.compile(r".*/connections/conn_.*"))
        await ui.go(f"/ui/w/{ws}/connections")
        await ui.shot("05-connections")

        # Create a Trino SQL job with a parameter, run it, watch it succeed.
        await ui.go(f"/ui/w/{ws}/jobs/new?type=trino_sql")
        await tab.get_by_label(label("Name")).fill("meter-summary")
        await tab.get_by_label(label("Engine connection")).select_option(trino_conn_id)
        await tab.get_by_label(label("Sql")).fill(
            "SELECT n, n * :factor AS kwh, 'meter-' || CAST(n AS varchar) AS meter "
            "FROM UNNEST(sequence(1, 5)) AS t(n)"
        )
        await tab.get_by_label(label("Parameter 1 name")).fill("factor")
        await tab.get_by_label(label("Parameter 1 type")).select_option("integer")
        await tab.get_by_label(label("Parameter 1 default")).fill("10")
        await ui.shot("06-job-new")
        await tab.get_by_role("button", name="Create job").click()
        await tab.wait_for_url(re.compile(r".*/jobs/job_[^/]*$"))
        job_url = tab.url.split("?")[0]
        await tab.get_by_role("button", name="Run now").click()
        await tab.wait_for_url(re.compile(r".*/runs/run_.*"))
        await ui.shot("07-run-live")
        # No reload from the test: the page's own script follows the run to its end.
        assert await ui.wait_for_state(("succeeded", "failed"), reload=False) == "succeeded"
        first_run_url = tab.url
        log = await tab.locator("#run-log").inner_text()
        assert log.strip(), "the run wrote no log"
        preview = tab.locator("#result-preview")
        assert await preview.locator("tbody tr").count() == 5
        assert "meter-3" in await preview.inner_text()
        await ui.shot("08-run-succeeded")

        # Rerun it: the new run links back to the first.
        await tab.get_by_role("button", name="Rerun").click()
        await tab.wait_for_url(re.compile(r".*/runs/run_.*"))
        assert tab.url != first_run_url
        assert await ui.wait_for_state(("succeeded", "failed")) == "succeeded"
        assert first_run_url.rsplit("/", 1)[1][-10:] in await tab.locator("main").inner_text()
        await ui.shot("09-rerun")

        # Edit the job (a new version), then see the diff and the duration chart.
        await tab.goto(job_url + "/edit")
        await tab.get_by_label(label("Sql")).fill(
            "SELECT n, n * :factor AS kwh FROM UNNEST(sequence(1, 7)) AS t(n)"
        )
        await tab.get_by_role("button", name="Save as a new version").click()
        await tab.wait_for_url(re.compile(r".*saved=1"))
        await tab.get_by_role("button", name="Run now").click()
        await tab.wait_for_url(re.compile(r".*/runs/run_.*"))
        await ui.wait_for_state(("succeeded", "failed"))
        await tab.goto(job_url + "/versions")
        assert "sequence(1, 7)" in await tab.locator(".diff").inner_text()
        await ui.shot("10-job-versions-diff")
        await tab.goto(job_url)
        assert await tab.locator("svg.chart circle").count() >= 3
        await ui.shot("11-job-durations")

        # A long run, stopped from the UI.
        await ui.go(f"/ui/w/{ws}/jobs/new?type=noop")
        await tab.get_by_label(label("Name")).fill("long-wait")
        await tab.get_by_label(label("Delay s")).fill("600")
        await tab.get_by_role("button", name="Create job").click()
        await tab.wait_for_url(re.compile(r".*/jobs/job_[^/]*$"))
        await tab.get_by_role("button", name="Run now").click()
        await tab.wait_for_url(re.compile(r".*/runs/run_.*"))
        assert await ui.wait_for_state(("running",)) == "running"
        await ui.shot("12-long-run")
        await tab.get_by_role("button", name="Stop").click()
        await tab.wait_for_url(re.compile(r".*stopped=1"))
        assert await ui.wait_for_state(("cancelled",)) == "cancelled"
        await ui.shot("13-long-run-stopped")

        # Runs list with a filter.
        await ui.go(f"/ui/w/{ws}/runs")
        assert await tab.locator("tbody tr").count() >= 4
        await ui.shot("14-runs")
        await ui.go(f"/ui/w/{ws}/runs?state=cancelled")
        assert await tab.locator("tbody tr").count() == 1
        await ui.shot("15-runs-filtered")

        # Catalog: a table made by Trino, its schema and rows per snapshot; register it.
        admin_token = await _admin_token(tab, ui)
        demo = f"{stack.trino.catalog}.demo"
        for sql in SETUP_SQL:
            await _run_sql(stack, admin_token, trino_conn_id, sql.replace("DEMO", demo))
        await ui.go(f"/ui/w/{ws}/catalog")
        await tab.get_by_role("link", name="demo").first.click()
        await tab.get_by_role("link", name="readings").click()
        await tab.wait_for_selector("svg.chart rect", state="attached")
        assert await tab.locator("svg.chart rect").count() >= 2  # one bar per snapshot
        await ui.shot("16-catalog-table")
        await tab.get_by_label(label("Tags")).fill("energy, meters")
        await tab.get_by_role("button", name="Register dataset").click()
        await tab.wait_for_url(re.compile(r".*/datasets/ds_.*"))
        assert "energy" in await tab.locator("main").inner_text()
        await ui.shot("17-dataset")
        await ui.go(f"/ui/w/{ws}/datasets")
        await ui.shot("18-datasets")

        # Schedules, members, tokens, users, health.
        await ui.go(f"/ui/w/{ws}/schedules")
        await tab.get_by_label(label("Job")).select_option(label="meter-summary")
        await tab.get_by_label(label("Cron expression")).fill("0 6 * * *")
        await tab.get_by_label(label("Time zone")).fill("Europe/Berlin")
        await tab.get_by_role("button", name="Create schedule").click()
        await tab.wait_for_url(re.compile(r".*created=1"))
        await ui.shot("19-schedules")
        await ui.go(f"/ui/w/{ws}/members")
        await ui.shot("20-members")
        await ui.go("/ui/admin/users")
        await ui.shot("21-users")
        await ui.go("/ui/account")
        await ui.shot("22-tokens")
        await ui.go("/ui/health")
        assert "database" in await tab.locator("main").inner_text()
        await ui.shot("23-health")

        # The audit page shows all of it.
        await ui.go("/ui/admin/audit")
        audit_text = await tab.locator("#audit-events").inner_text()
        for action in (
            "auth.login",
            "connection.create",
            "connection.test",
            "job.create",
            "job.update",
            "run.",
            "dataset.register",
            "schedule.create",
        ):
            assert action in audit_text, action
        await ui.shot("24-audit")
        await ui.go("/ui/admin/audit?action=connection.")
        await ui.shot("25-audit-filtered")
        assert not csp_errors, csp_errors

        # A viewer sees no admin pages or buttons.
        viewer_context = await browser.new_context(viewport={"width": 1280, "height": 900})
        vtab = await viewer_context.new_page()
        vui = Pages(vtab, stack.url, shots)
        await vui.sign_in(*stack.viewer)
        nav = await vtab.locator("nav").inner_text()
        assert "Audit log" not in nav and "Users" not in nav
        response = await vui.go("/ui/admin/audit")
        assert response.status == 403
        await vui.shot("26-viewer-audit-refused")
        await vtab.goto(job_url)
        assert await vtab.get_by_role("button", name="Run now").count() == 0
        assert await vtab.get_by_role("link", name="Edit").count() == 0
        await vtab.goto(first_run_url)
        assert await vtab.get_by_role("button", name="Rerun").count() == 0
        await vui.shot("27-viewer-run")
        await browser.close()


async def _admin_token(tab: Any, ui: Pages) -> str:
    await ui.go("/ui/account")
    await tab.get_by_label(label("Token name")).fill("e2e")
    await tab.get_by_role("button", name="Create token").click()
    return (await tab.locator("#new-token code").inner_text()).strip()


async def _run_sql(stack: Stack, token: str, conn_id: str, sql: str) -> None:
    ws = stack.workspace.slug
    job = await api(
        stack,
        token,
        "POST",
        f"/api/v1/workspaces/{ws}/jobs",
        json={
            "name": f"setup-{secrets.token_hex(3)}",
            "type": "trino_sql",
            "definition": {"sql": sql},
            "connection_id": conn_id,
        },
    )
    run = await api(stack, token, "POST", f"/api/v1/workspaces/{ws}/jobs/{job['id']}/runs", json={})
    deadline = time.monotonic() + RUN_WAIT_S
    while time.monotonic() < deadline:
        got = await api(stack, token, "GET", f"/api/v1/workspaces/{ws}/runs/{run['id']}")
        if got["state"] == "succeeded":
            return
        assert got["state"] in ("queued", "running"), got
        await asyncio.sleep(0.5)
    raise AssertionError(f"setup statement did not finish: {sql}")
