"""The async SQLAlchemy engine and the mapping of database outages to 503."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import asyncpg
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from lakeplane.config import DatabaseConfig
from lakeplane.errors import ServiceUnavailable


def create_engine(config: DatabaseConfig) -> AsyncEngine:
    if not config.url.startswith("postgresql+asyncpg://"):
        raise ValueError("database.url must start with postgresql+asyncpg://")
    return create_async_engine(
        config.url,
        pool_size=config.pool_size,
        max_overflow=config.pool_size,
        # A ping per checkout: after a database restart no request meets a dead pooled connection.
        pool_pre_ping=True,
        pool_timeout=config.connect_timeout_s,
        connect_args={
            "timeout": config.connect_timeout_s,
            "command_timeout": config.statement_timeout_s,
            "server_settings": {"application_name": "lakeplane", "timezone": "UTC"},
        },
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.gaierror,
    TimeoutError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable rather than a bad statement."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OUTAGE_ERRORS):
            return True
        if "connection is closed" in str(seen) or "connection was closed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.asynccontextmanager
async def outage_as_503() -> AsyncIterator[None]:
    try:
        yield
    except ServiceUnavailable:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise ServiceUnavailable("the metadata database is unavailable; retry shortly") from exc
        raise
