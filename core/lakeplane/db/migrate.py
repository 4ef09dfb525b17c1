"""Alembic, driven from code: the migrations ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lakeplane.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def scripts() -> ScriptDirectory:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = scripts().get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def known_revisions() -> list[str]:
    """Every revision this installation knows, oldest first."""
    return [script.revision for script in reversed(list(scripts().walk_revisions()))]


def pending_revisions(current: str | None) -> list[str]:
    """Revisions after ``current`` up to the head, oldest first (``current`` ``None``: all of them)."""
    known = known_revisions()
    if current is None:
        return known
    if current not in known:
        raise SchemaTooNew(current)
    return known[known.index(current) + 1 :]


async def current_revision(conn: AsyncConnection) -> str | None:
    """The database's revision, ``None`` for a database never migrated."""
    exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return None
    value = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return str(value) if value is not None else None


async def require_current(conn: AsyncConnection, binary: str) -> None:
    """Stop a binary that does not know the database's schema (it was made by a newer release)."""
    current = await current_revision(conn)
    if current is not None and current not in known_revisions():
        raise SchemaTooNew(current, binary)


class SchemaTooNew(ConfigError):
    """The database's revision is unknown to this installation: a newer release migrated it."""

    def __init__(self, revision: str, binary: str = "lakeplane") -> None:
        super().__init__(
            "database",
            f"schema revision {revision} is newer than this {binary} knows (head {head_revision()}); "
            "run the release that migrated it, or upgrade this one",
        )
        self.revision = revision


async def refuse_unknown_schema(engine: AsyncEngine, binary: str) -> None:
    """Before a binary starts: stop it with one line when a newer release migrated the database.

    A database that does not answer is left to the binary's own handling of outages.
    """
    from lakeplane.db.engine import is_outage

    try:
        async with engine.connect() as conn:
            await require_current(conn, binary)
    except SchemaTooNew:
        raise
    except Exception as exc:
        if not is_outage(exc):
            raise
