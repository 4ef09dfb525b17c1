"""What a running process holds: config, plugins, database, keyring. Built once at start.

The API server, the worker, the scheduler and the CLI each build one :class:`Services` and
hand it down; it sits below every layer, so the domain and the worker need nothing from ``web``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lakeplane import plugins as plugin_loading
from lakeplane.config import Config
from lakeplane.db.engine import create_engine, sessionmaker
from lakeplane.interfaces import SecretStore
from lakeplane.security.crypto import Keyring
from lakeplane.security.endpoints import configure_endpoints


@dataclasses.dataclass
class Services:
    config: Config
    plugins: plugin_loading.Plugins
    selection: plugin_loading.Selection
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    #: Where connection secrets are kept (the config's ``secret_store``).
    secret_store: SecretStore
    #: Per-process caches any module may use (e.g. verified tokens), keyed by owner.
    caches: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, loaded: plugin_loading.Plugins | None = None) -> Services:
        loaded = loaded or plugin_loading.load(config.plugins)
        selection = plugin_loading.select(config, loaded.registry)
        engine = create_engine(config.database)
        # Every plugin client of this process connects through this guard.
        configure_endpoints(config.security.allowed_endpoints)
        keyring = Keyring(config.security.encryption_keys, config.security.primary_key_id)
        return cls(
            config=config,
            plugins=loaded,
            selection=selection,
            engine=engine,
            sessions=sessionmaker(engine),
            keyring=keyring,
            secret_store=selection.secret_store.impl.cls(selection.secret_store.options, keyring),
        )
