"""Test helpers for signing in: people with passwords, sessions, bearer headers."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from lakeplane.db.models import User
from lakeplane.domain.auth.services import password_provider
from lakeplane.runtime import Services
from lakeplane.testing.app import make_user

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test fixture


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(3)}"


async def person(lp: Services, name: str, password: str = PASSWORD, **kwargs: Any) -> tuple[User, str]:
    """A user (name made unique) with a password and an API token; returns (user, token)."""
    async with lp.sessions() as db:
        user, token = await make_user(db, unique(name), **kwargs)
    password_hash = await password_provider(lp).hash_password(password)
    async with lp.sessions() as db, db.begin():
        await db.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
    user.password_hash = password_hash
    return user, token


async def sign_in(client: AsyncTestClient[Litestar], username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in and return the CSRF token; the session cookie stays in the client."""
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["csrf_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
