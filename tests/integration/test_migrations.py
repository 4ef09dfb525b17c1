"""The migrations build exactly the schema the models describe, from an empty database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from lakeplane.db.migrate import downgrade, upgrade
from lakeplane.db.models import AuditEvent, Base
from lakeplane.domain import audit
from lakeplane.domain.audit.chain import GENESIS, first_scheme_digest
from lakeplane.testing.app import create_database
from lakeplane.timeutil import utcnow


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


async def test_audit_events_of_the_first_scheme_still_verify_after_the_upgrade(postgres_service: Any) -> None:
    """Events hashed before ``content_hash`` existed chain on into events appended by the database."""
    url = await create_database(postgres_service.url, prefix="lp_audit_up")
    await asyncio.to_thread(downgrade, url, "20261125_0001")
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        prev = GENESIS
        async with sessions() as db, db.begin():
            for seq in (1, 2):
                old = AuditEvent(
                    seq=seq,
                    id=f"evt_old{seq}",
                    occurred_at=utcnow(),
                    actor_name="before",
                    action="test.old",
                    outcome="success",
                    details={"n": seq},
                    prev_hash=prev,
                )
                old.hash = prev = first_scheme_digest(old)
                columns = [c.name for c in AuditEvent.__table__.columns if c.name != "content_hash"]
                values = {name: getattr(old, name) for name in columns}
                await db.execute(insert(AuditEvent.__table__).values(values))
        await asyncio.to_thread(upgrade, url)
        async with sessions() as db, db.begin():
            await audit.record(db, audit.Actor.system("after"), audit.Entry("test.new", details={"n": 3}))
        async with sessions() as db:
            verdict = await audit.verify(db)
            assert verdict.ok and verdict.checked == 3, verdict
            new = await db.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
            assert new is not None and new.prev_hash == prev and new.content_hash is not None
        async with sessions() as db, db.begin():
            await db.execute(text("SET LOCAL session_replication_role = replica"))
            await db.execute(text("UPDATE audit_events SET details = '{\"n\": 9}' WHERE seq = 1"))
        async with sessions() as db:
            verdict = await audit.verify(db)
        assert not verdict.ok and verdict.seq == 1
    finally:
        await engine.dispose()
