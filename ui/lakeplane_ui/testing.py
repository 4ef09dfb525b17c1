"""Test helpers for the admin UI: password users, workspaces, signing in through the form."""

from __future__ import annotations

import re
import secrets
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import RoleBinding, User
from lakeplane.domain.auth import services as auth_services
from lakeplane.ids import new_id
from lakeplane.web.state import Services

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
SIGNIN_INPUT = re.compile(r'name="signin_csrf" value="([^"]+)"')


async def password_user(
    lp: Services, username: str, password: str, *, is_admin: bool = False, roles: dict[str, str] | None = None
) -> User:
    """A local user with a real password hash from the configured auth provider."""
    password_hash = await auth_services.password_provider(lp).hash_password(password)
    async with lp.sessions() as db, db.begin():
        user = User(
            id=new_id("usr"), username=username, display_name=username, password_hash=password_hash,
            is_admin=is_admin,
        )
        db.add(user)
        await db.flush()
        for ws_id, role in (roles or {}).items():
            db.add(RoleBinding(id=new_id("rb"), user_id=user.id, workspace_id=ws_id, role=role))
    return user


async def make_workspace(db: AsyncSession, slug: str | None = None) -> Any:
    from lakeplane import audit
    from lakeplane.domain.workspaces import services
    from lakeplane.domain.workspaces.schemas import WorkspaceCreate

    slug = slug or f"ws-{secrets.token_hex(3)}"
    return await services.create(db, audit.Actor.system("test"), WorkspaceCreate(slug=slug, name=slug.title()))


async def sign_in(client: AsyncTestClient[Any], username: str, password: str) -> str:
    """Sign in through the form; return the CSRF token of the session's pages."""
    page = await client.get("/ui/signin")
    token = SIGNIN_INPUT.search(page.text)
    assert token, page.text
    response = await client.post(
        "/ui/signin",
        data={"username": username, "password": password, "signin_csrf": token[1], "next": "/ui/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = await client.get("/ui/")
    csrf = CSRF_INPUT.search(home.text)
    assert csrf, home.text
    return csrf[1]


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF input on the page"
    return found[1]
