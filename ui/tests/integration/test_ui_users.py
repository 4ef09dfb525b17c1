"""An administrator creates and edits users through the one user form."""

from __future__ import annotations

import secrets


async def test_admin_creates_a_service_account_then_edits_it(signed_in):
    admin, csrf, _ = await signed_in(is_admin=True)
    form = {"csrf_token": csrf, "display_name": "Robot", "is_service_account": "1"}
    # Without a user name the form comes back with what was typed and the error by its input.
    refused = await admin.post("/ui/admin/users", data=form)
    assert refused.status_code == 422
    assert 'id="f-username-err"' in refused.text and 'value="Robot"' in refused.text

    form["username"] = f"robot-{secrets.token_hex(3)}"
    created = await admin.post("/ui/admin/users", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    user_url = created.headers["location"].split("?")[0]
    detail = await admin.get(user_url)
    assert "service account" in detail.text and 'value="Robot"' in detail.text
    assert 'badge-good">active<' in detail.text
    saved = await admin.post(
        user_url,
        data={"csrf_token": csrf, "display_name": "Robot two", "disabled": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    again = await admin.get(user_url)
    assert 'value="Robot two"' in again.text and 'badge-muted">disabled<' in again.text
