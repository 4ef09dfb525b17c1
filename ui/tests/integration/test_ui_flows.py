"""Whole flows through the pages: connections, jobs and versions, runs, schedules,
members, tokens, audit, health; and what a viewer may not see or do."""

from __future__ import annotations

import re

import pytest

from lakeplane_ui.testing import csrf_of, noop_job_form, trino_params

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUN_LINK = re.compile(r'href="/ui/w/[^/]+/runs/(run_[A-Z0-9]+)"')
JOB_LINK = re.compile(r"/jobs/(job_[A-Z0-9]+)")


async def make_noop_job(visitor, csrf, ws, name="nightly", delay="0", parameters=()):
    data = noop_job_form(csrf, name, delay=delay, parameters=parameters)
    response = await visitor.post(f"/ui/w/{ws.slug}/jobs/new", data=data)
    assert response.status_code == 303, response.text
    return JOB_LINK.search(response.headers["location"])[1]


async def test_connection_create_edit_keeps_secrets_write_only(signed_in, workspace):
    editor, csrf, _ = await signed_in(roles={workspace.id: "editor"})
    page = await editor.get(f"/ui/w/{workspace.slug}/connections/new?plugin=engine:trino")
    assert page.status_code == 200, page.text
    assert 'name="p.password"' in page.text and 'type="password"' in page.text
    response = await editor.post(
        f"/ui/w/{workspace.slug}/connections/new",
        data={
            "csrf_token": csrf,
            "plugin": "engine:trino",
            "name": "trino-main",
            **trino_params(password="s3cret-value-xyz"),
        },
    )
    assert response.status_code == 303, response.text
    detail = await editor.get(response.headers["location"])
    assert "s3cret-value-xyz" not in detail.text
    assert '<span class="secret-set">set</span>' in detail.text
    conn_url = response.headers["location"].split("?")[0]
    # A blank secret on edit keeps the stored one; the port changes.
    saved = await editor.post(
        conn_url,
        data={
            "csrf_token": csrf_of(detail.text),
            "name": "trino-main",
            **trino_params(port="8081", password=""),
        },
    )
    assert saved.status_code == 303, saved.text
    again = await editor.get(conn_url)
    assert 'value="8081"' in again.text and "secret-set" in again.text
    # A bad port shows its error next to the field.
    bad = await editor.post(
        conn_url,
        data={"csrf_token": csrf, "name": "trino-main", **trino_params(port="eighty")},
    )
    assert bad.status_code == 422
    assert 'id="f-p-port-err"' in bad.text


async def test_connection_test_shows_its_result(signed_in, workspace):
    editor, csrf, _ = await signed_in(roles={workspace.id: "editor"})
    response = await editor.post(
        f"/ui/w/{workspace.slug}/connections/new",
        data={"csrf_token": csrf, "plugin": "engine:trino", "name": "nowhere", **trino_params(port="9")},
    )
    conn_url = response.headers["location"].split("?")[0]
    tested = await editor.post(f"{conn_url}/test", data={"csrf_token": csrf})
    assert tested.status_code == 200
    assert 'id="test-result"' in tested.text and "Test failed" in tested.text


async def test_job_versions_diff_run_stop_rerun(signed_in, workspace):
    editor, csrf, _ = await signed_in(roles={workspace.id: "editor"})
    job_id = await make_noop_job(editor, csrf, workspace, parameters=[("day", "date", "2026-01-01")])
    job_url = f"/ui/w/{workspace.slug}/jobs/{job_id}"
    page = await editor.get(job_url)
    assert page.status_code == 200 and "version 1" in page.text
    edit = await editor.get(f"{job_url}/edit")
    assert edit.status_code == 200 and 'value="hello from the UI"' in edit.text
    changed = noop_job_form(
        csrf,
        "nightly",
        message="changed",
        parameters=[("day", "date", "2026-01-02")],
        max_attempts="2",
        retry_backoff_s="5",
    )
    saved = await editor.post(f"{job_url}/edit", data=changed)
    assert saved.status_code == 303, saved.text
    versions = await editor.get(f"{job_url}/versions")
    assert versions.status_code == 200
    assert '<span class="add">+' in versions.text and "changed" in versions.text
    # A bad parameter value is reported next to its input.
    bad = await editor.post(f"{job_url}/run", data={"csrf_token": csrf, "run.day": "not-a-date"})
    assert bad.status_code == 422 and 'id="f-run-day-err"' in bad.text
    run = await editor.post(f"{job_url}/run", data={"csrf_token": csrf, "run.day": "2026-03-04"})
    assert run.status_code == 303
    run_url = run.headers["location"]
    detail = await editor.get(run_url)
    assert detail.status_code == 200 and "queued" in detail.text and "2026-03-04" in detail.text
    stopped = await editor.post(f"{run_url}/stop", data={"csrf_token": csrf})
    assert stopped.status_code == 303
    after = await editor.get(run_url)
    assert 'badge-muted">cancelled' in after.text
    rerun = await editor.post(f"{run_url}/rerun", data={"csrf_token": csrf})
    assert rerun.status_code == 303
    child = await editor.get(rerun.headers["location"])
    assert "a rerun" in child.text and run_url.rsplit("/", 1)[1][-10:] in child.text
    listing = await editor.get(f"/ui/w/{workspace.slug}/runs?state=cancelled")
    assert listing.status_code == 200
    assert run_url.rsplit("/", 1)[1] in listing.text
    assert rerun.headers["location"].rsplit("/", 1)[1] not in listing.text
    tail = await editor.get(f"{run_url}/log?after=0")
    assert tail.json()["finished"] is True


async def test_refused_job_saves_show_the_form_again(signed_in, workspace):
    """Create and edit answer 422 with the form as sent and each error by its field:
    checks of the form, the schema's (``max_attempts`` 0) and the service's (a name taken)."""
    editor, csrf, _ = await signed_in(roles={workspace.id: "editor"})
    await make_noop_job(editor, csrf, workspace, name="taken")
    job_id = await make_noop_job(editor, csrf, workspace, name="mine")
    form = noop_job_form(csrf, "fresh", message="kept on refusal", parameters=[("day", "date", "2026-01-01")])
    for url in (f"/ui/w/{workspace.slug}/jobs/new", f"/ui/w/{workspace.slug}/jobs/{job_id}/edit"):
        checked = await editor.post(url, data={**form, "max_attempts": "many"})
        assert checked.status_code == 422, url
        assert 'id="f-max_attempts-err">a number<' in checked.text
        assert "Fix the fields marked below." in checked.text
        assert 'value="kept on refusal"' in checked.text and 'value="day"' in checked.text

        schema = await editor.post(url, data={**form, "max_attempts": "0"})
        assert schema.status_code == 422, url
        assert 'id="f-max_attempts-err"' in schema.text and "Fix the fields marked below." in schema.text
        assert 'value="kept on refusal"' in schema.text

        taken = await editor.post(url, data={**form, "name": "taken"})
        assert taken.status_code == 422, url
        detail = "a job named &#39;taken&#39; already exists in this workspace"
        assert f'id="f-name-err">{detail}<' in taken.text
        assert f'role="alert">{detail}<' in taken.text
        assert 'value="kept on refusal"' in taken.text and 'value="day"' in taken.text


async def test_schedule_members_tokens_audit_health(signed_in, workspace):
    admin, csrf, _ = await signed_in(is_admin=True)
    job_id = await make_noop_job(admin, csrf, workspace, name="hourly")
    created = await admin.post(
        f"/ui/w/{workspace.slug}/schedules",
        data={
            "csrf_token": csrf,
            "job_id": job_id,
            "cron": "0 * * * *",
            "timezone": "Europe/Berlin",
            "parameters": "{}",
            "misfire_policy": "skip",
        },
    )
    assert created.status_code == 303, created.text
    listing = await admin.get(f"/ui/w/{workspace.slug}/schedules?cron=0+6+*+*+*&timezone=UTC")
    assert "0 * * * *" in listing.text and "Europe/Berlin" in listing.text and "<ol>" in listing.text
    bad = await admin.post(
        f"/ui/w/{workspace.slug}/schedules",
        data={"csrf_token": csrf, "job_id": job_id, "cron": "whenever", "parameters": "{}"},
    )
    assert bad.status_code == 422
    token_page = await admin.post(
        "/ui/account/tokens", data={"csrf_token": csrf, "name": "ci", "expires_in_days": "7"}
    )
    assert token_page.status_code == 200 and re.search(r"<code>lp_[^<]+</code>", token_page.text)
    audit = await admin.get("/ui/admin/audit?action=schedule.")
    assert audit.status_code == 200 and "schedule.create" in audit.text
    assert "/api/v1/audit/export?action=schedule." in audit.text
    everything = await admin.get("/ui/admin/audit")
    for action in ("job.create", "run.", "token.create", "auth.login"):
        assert action in everything.text, action
    export = await admin.get("/api/v1/audit/export?action=schedule.")
    assert export.status_code == 200 and "schedule.create" in export.text
    health = await admin.get("/ui/health")
    assert health.status_code == 200 and "database" in health.text
    users = await admin.get("/ui/admin/users")
    assert users.status_code == 200


async def test_viewer_sees_no_admin_pages_or_buttons(signed_in, workspace):
    admin, csrf, _ = await signed_in(is_admin=True)
    job_id = await make_noop_job(admin, csrf, workspace, name="viewable")
    viewer, viewer_csrf, _ = await signed_in(roles={workspace.id: "viewer"})
    home = await viewer.get("/ui/")
    assert "/ui/admin/users" not in home.text and "/ui/admin/audit" not in home.text
    for url in ("/ui/admin/users", "/ui/admin/audit"):
        assert (await viewer.get(url)).status_code == 403
    job = await viewer.get(f"/ui/w/{workspace.slug}/jobs/{job_id}")
    assert job.status_code == 200
    assert "Run now" not in job.text and "/edit" not in job.text
    conns = await viewer.get(f"/ui/w/{workspace.slug}/connections")
    assert "New connection" not in conns.text
    refused = await viewer.post(f"/ui/w/{workspace.slug}/jobs/{job_id}/run", data={"csrf_token": viewer_csrf})
    assert refused.status_code == 403
    assert (await viewer.get(f"/ui/w/{workspace.slug}/jobs/new")).status_code == 403


async def test_every_page_renders_for_an_admin(signed_in, workspace):
    admin, csrf, _ = await signed_in(is_admin=True)
    job_id = await make_noop_job(admin, csrf, workspace, name="everything")
    base = f"/ui/w/{workspace.slug}"
    for url in (
        "/ui/",
        "/ui/health",
        "/ui/account",
        "/ui/admin/users",
        "/ui/admin/audit",
        f"{base}/runs",
        f"{base}/jobs",
        f"{base}/jobs/new",
        f"{base}/jobs/new?type=noop",
        f"{base}/jobs/{job_id}",
        f"{base}/jobs/{job_id}/versions",
        f"{base}/schedules",
        f"{base}/connections",
        f"{base}/connections/new",
        f"{base}/catalog",
        f"{base}/datasets",
        f"{base}/members",
    ):
        response = await admin.get(url)
        assert response.status_code == 200, (url, response.text[:2000])
        assert response.headers["x-frame-options"] == "DENY"


async def test_unknown_workspace_is_not_found(signed_in):
    visitor, _, _ = await signed_in()
    response = await visitor.get("/ui/w/nope-nope/runs")
    assert response.status_code == 404
    assert "Not found" in response.text
