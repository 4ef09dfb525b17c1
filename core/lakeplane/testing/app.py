"""Build a real Lakeplane app for tests: a fresh migrated database, a config, users and tokens."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane import config as config_module
from lakeplane.db.migrate import upgrade
from lakeplane.db.models import ApiToken, RoleBinding, User
from lakeplane.domain.auth.principals import TOKEN_PREFIX, hash_secret
from lakeplane.ids import new_id


async def create_database(server_url: str, prefix: str = "lp_test") -> str:
    """Create an empty database next to ``server_url``'s and migrate it; return its URL."""
    url = make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(**_asyncpg_args(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    db_url = url.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, db_url)
    return db_url


def _asyncpg_args(url: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"user": url.username, "password": url.password, "database": url.database}
    host = url.query.get("host") or url.host
    args["host"] = host
    if url.port:
        args["port"] = url.port
    return args


def make_config(database_url: str, **sections: dict[str, Any]) -> config_module.Config:
    raw: dict[str, Any] = {
        "database": {"url": database_url, "connect_timeout_s": 2.0},
        "security": {
            "session_key": secrets.token_urlsafe(48),
            "encryption_keys": {"k1": secrets.token_urlsafe(32)},
            "primary_key_id": "k1",
        },
        "engines": {},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    config = config_module.decode(raw)
    config_module.check_keys(config.security)
    return config


async def make_user(
    db: AsyncSession,
    username: str,
    *,
    is_admin: bool = False,
    roles: dict[str, str] | None = None,
    scopes: list[str] | None = None,
) -> tuple[User, str]:
    """A user with an API token (returned in clear) and the given workspace roles."""
    user = User(id=new_id("usr"), username=username, is_admin=is_admin, display_name=username)
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    async with db.begin():
        db.add(user)
        await db.flush()
        db.add(
            ApiToken(
                id=new_id("tok"),
                user_id=user.id,
                name="test",
                token_hash=hash_secret(token),
                prefix=token[:10],
                scopes=scopes or [],
            )
        )
        for ws_id, role in (roles or {}).items():
            db.add(RoleBinding(id=new_id("rb"), user_id=user.id, workspace_id=ws_id, role=role))
    return user, token
