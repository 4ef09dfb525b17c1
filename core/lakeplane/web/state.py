"""What the running service holds: config, plugins, database, keyring. Built once at start."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lakeplane import plugins as plugin_loading
from lakeplane.config import Config
from lakeplane.db.engine import create_engine, sessionmaker
from lakeplane.security.crypto import Keyring


@dataclasses.dataclass
class Services:
    config: Config
    plugins: plugin_loading.Plugins
    selection: plugin_loading.Selection
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    #: Per-process caches any module may use (e.g. verified tokens), keyed by owner.
    caches: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, loaded: plugin_loading.Plugins | None = None) -> Services:
        loaded = loaded or plugin_loading.load(config.plugins.blocked)
        selection = plugin_loading.select(config, loaded.registry)
        engine = create_engine(config.database)
        return cls(
            config=config,
            plugins=loaded,
            selection=selection,
            engine=engine,
            sessions=sessionmaker(engine),
            keyring=Keyring(config.security.encryption_keys, config.security.primary_key_id),
        )


def services(state: State) -> Services:
    found: Services = state["lakeplane"]
    return found


async def provide_services(state: State) -> Services:
    return services(state)


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    async with services(state).sessions() as session:
        yield session
