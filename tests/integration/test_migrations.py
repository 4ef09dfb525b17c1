"""The migrations build exactly the schema the models describe, from an empty database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from lakeplane.db.migrate import downgrade, upgrade
from lakeplane.db.models import Base
from lakeplane.testing.app import create_database


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(postgres_service: Any) -> None:
    url = await create_database(postgres_service.url, prefix="lp_drift")
    assert await _diff(url) == []


async def test_downgrade_to_empty_and_back(postgres_service: Any) -> None:
    url = await create_database(postgres_service.url, prefix="lp_down")
    await asyncio.to_thread(downgrade, url, "base")
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        tables = (
            (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            .scalars()
            .all()
        )
    await engine.dispose()
    assert set(tables) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, url)
    assert await _diff(url) == []


async def test_audit_table_refuses_update_and_delete(postgres_service: Any) -> None:
    url = await create_database(postgres_service.url, prefix="lp_audit")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO audit_events (seq, id, occurred_at, actor_name, action, outcome, details, prev_hash, hash)"
                    " VALUES (1, 'evt_1', now(), 'a', 'x', 'success', '{}', '0', '1')"
                )
            )
        refused = (
            "UPDATE audit_events SET actor_name = 'b'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        )
        for statement in refused:
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
    finally:
        await engine.dispose()
