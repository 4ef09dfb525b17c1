"""The admin UI over the real app and database: pages, forms, CSRF, headers, permissions."""

from __future__ import annotations

import re

import pytest

from lakeplane_ui.web import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_signed_out_pages_redirect_to_sign_in(ui_client):
    response = await ui_client.get("/ui/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/signin?next=")


async def test_sign_in_page_has_security_headers(ui_client):
    response = await ui_client.get("/ui/signin")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "no-store" in response.headers["cache-control"]
    assert 'name="signin_csrf"' in response.text


async def test_wrong_password_shows_the_error_on_the_form(ui_client, lakeplane_services):
    from lakeplane_ui.testing import SIGNIN_INPUT, password_user

    await password_user(lakeplane_services, "wrongpw-user", "right-password-123")
    page = await ui_client.get("/ui/signin")
    token = SIGNIN_INPUT.search(page.text)[1]
    response = await ui_client.post(
        "/ui/signin", data={"username": "wrongpw-user", "password": "nope", "signin_csrf": token}
    )
    assert response.status_code == 401
    assert "invalid user name or password" in response.text


async def test_sign_in_without_the_form_token_is_refused(ui_client, lakeplane_services):
    from lakeplane_ui.testing import password_user

    await password_user(lakeplane_services, "nocsrf-user", "right-password-123")
    response = await ui_client.post(
        "/ui/signin", data={"username": "nocsrf-user", "password": "right-password-123"}
    )
    assert response.status_code == 403
    assert "lakeplane_session" not in response.cookies


async def test_home_lists_workspaces_and_admin_creates_one(signed_in):
    client, csrf, _ = await signed_in(is_admin=True)
    response = await client.post(
        "/ui/workspaces",
        data={"csrf_token": csrf, "name": "Analytics", "slug": "analytics-ui"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/w/analytics-ui/runs"
    home = await client.get("/ui/")
    assert "analytics-ui" in home.text


async def test_post_without_csrf_token_is_refused(signed_in):
    client, _, _ = await signed_in(is_admin=True)
    response = await client.post("/ui/workspaces", data={"name": "X", "slug": "no-csrf"})
    assert response.status_code == 403
    home = await client.get("/ui/")
    assert "no-csrf" not in home.text


async def test_workspace_form_errors_sit_next_to_their_field(signed_in):
    client, csrf, _ = await signed_in(is_admin=True)
    response = await client.post(
        "/ui/workspaces", data={"csrf_token": csrf, "name": "Bad", "slug": "Not A Slug"}
    )
    assert response.status_code == 422
    assert re.search(r'id="f-slug"[^>]*aria-invalid="true"', response.text)
    assert 'id="f-slug-err"' in response.text


async def test_sign_out_ends_the_session(signed_in):
    client, csrf, _ = await signed_in()
    response = await client.post("/ui/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    again = await client.get("/ui/", follow_redirects=False)
    assert again.status_code == 303


async def test_escaping_everywhere(signed_in, lakeplane_services):
    from lakeplane_ui.testing import make_workspace, setup_sessions

    async with setup_sessions(lakeplane_services)() as db:
        ws = await make_workspace(db)
    client, csrf, _ = await signed_in(roles={ws.id: "editor"})
    page = await client.get(f"/ui/w/{ws.slug}/connections/new?plugin=engine:noop")
    assert page.status_code == 200, page.text
    response = await client.follow(
        "POST",
        f"/ui/w/{ws.slug}/connections/new",
        data={
            "csrf_token": csrf,
            "plugin": "engine:noop",
            "name": "noop1",
            "description": "<script>alert(1)</script>",
        },
    )
    assert response.status_code == 200, response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
