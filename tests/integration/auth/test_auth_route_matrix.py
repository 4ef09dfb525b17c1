"""Every registered route, for every kind of caller: the guard allows and denies as declared.

The routes are read from the app itself (core and plugins), so a new route is
checked the moment it exists, and one without a declared permission fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from lakeplane.testing.auth import bearer, person, sign_in
from lakeplane.testing.fixtures import every_row
from lakeplane.testing.routes import concrete, operations
from lakeplane.web.guards import PERMISSIONS, permission_of

from .conftest import new_workspace

ROLES = ("anonymous", "outsider", "viewer", "editor", "ws_admin", "global_admin")
ALLOWED = {
    "public": set(ROLES),
    "authenticated": set(ROLES) - {"anonymous"},
    "workspace:viewer": {"viewer", "editor", "ws_admin", "global_admin"},
    "workspace:editor": {"editor", "ws_admin", "global_admin"},
    "workspace:admin": {"ws_admin", "global_admin"},
    "admin": {"global_admin"},
}


@pytest.fixture(scope="module")
async def callers(lp: Any, auth_app: Litestar, app_portal: Any) -> dict[str, Any]:
    from litestar.testing import AsyncTestClient

    _, admin_token = await person(lp, "root", is_admin=True)
    client = AsyncTestClient(app=auth_app)
    client.blocking_portal = app_portal
    ws = await new_workspace(client, admin_token, "Matrix")
    other = await new_workspace(client, admin_token, "Other")
    tokens = {"global_admin": admin_token, "anonymous": None}
    for role, binding in (("viewer", "viewer"), ("editor", "editor"), ("ws_admin", "admin")):
        tokens[role] = (await person(lp, role, roles={ws["id"]: binding}))[1]
    tokens["outsider"] = (await person(lp, "outsider", roles={other["id"]: "admin"}))[1]
    return {"ws": ws, "tokens": tokens}


async def test_every_route_declares_a_known_permission(auth_app):
    missing = [
        f"{method} {path}"
        for method, path, handler in operations(auth_app)
        if permission_of(handler) not in PERMISSIONS
    ]
    assert not missing, f"routes without a declared permission: {missing}"


async def test_route_by_role_matrix(auth_app, clients, callers):
    client = await clients(auth_app)
    client.follow_redirects = False  # the UI answers an anonymous page request with a redirect
    ws = callers["ws"]["slug"]
    wrong: list[str] = []
    checked = 0
    for method, path, handler in operations(auth_app):
        permission = permission_of(handler)
        url = concrete(path, ws)
        for role in ROLES:
            token = callers["tokens"][role]
            headers = {**(bearer(token) if token else {}), "Accept": "application/json"}
            kwargs: dict[str, Any] = {"headers": headers}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            resp = await client.request(method, url, **kwargs)
            checked += 1
            allowed = role in ALLOWED[str(permission)]
            denied_by_guard = (
                resp.status_code in (401, 403)
                or (
                    resp.status_code == 404
                    and "workspace" in resp.text
                    and permission.startswith("workspace:")
                )
                or (resp.status_code in (302, 303) and role == "anonymous")
            )
            # A public handler may refuse on its own (the UI's sign-in form checks its own token).
            if allowed and permission != "public" and resp.status_code in (401, 403):
                wrong.append(f"{role} refused {resp.status_code} on {method} {path} ({permission})")
            if not allowed:
                expected = _denial(role, permission)
                if resp.status_code not in expected or not denied_by_guard:
                    wrong.append(
                        f"{role} got {resp.status_code} on {method} {path} ({permission}), want {expected}"
                    )
    assert checked >= len(ROLES) * 20
    assert not wrong, "\n".join(wrong)


def _denial(role: str, permission: str) -> set[int]:
    if role == "anonymous":
        return {401, 302, 303}
    if permission.startswith("workspace:") and role == "outsider":
        return {404}
    return {403}


async def test_no_get_route_changes_state(auth_app, clients, callers, lp):
    """Call every GET route as a global admin (token and session) and as a member; nothing changes."""
    ws = callers["ws"]["slug"]
    admin = await clients(auth_app)
    admin.headers.update(bearer(callers["tokens"]["global_admin"]))
    browser = await clients(auth_app)
    admin_user, _ = await person(lp, "browser-admin", is_admin=True)
    await sign_in(browser, admin_user.username)
    member = await clients(auth_app)
    member.headers.update(bearer(callers["tokens"]["editor"]))
    before = await every_row(lp)
    gets = [(path, handler) for method, path, handler in operations(auth_app) if method == "GET"]
    assert len(gets) >= 10
    for path, _ in gets:
        for client in (admin, browser, member):
            resp = await client.get(concrete(path, ws), params={"limit": 5})
            assert resp.status_code < 500, f"GET {path}: {resp.status_code} {resp.text[:200]}"
    after = await every_row(lp)
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"GET requests changed tables: {changed}"
