"""What the running service holds: config, plugins, database, keyring. Built once at start."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from litestar.datastructures import State
from litestar.types import Scope
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


def services(state: State) -> Services:
    found: Services = state["lakeplane"]
    return found


async def provide_services(state: State) -> Services:
    return services(state)


#: Where a request keeps its database session (in the ASGI scope's state).
REQUEST_SESSION = "lakeplane_db"


def request_session(scope: Scope, state: State) -> AsyncSession:
    """The request's one database session, opened on first use.

    The guard's lookups (token, session, workspace and role) and the handler share it, so a
    read costs one pooled connection and one transaction. For a method other than GET, HEAD
    or OPTIONS the guard ends its transaction, so the handler can ``begin()`` its own
    (:func:`lakeplane.web.guards.end_guard_transaction`).
    """
    scope_state = scope.setdefault("state", {})
    session = scope_state.get(REQUEST_SESSION)
    if session is None:
        session = scope_state[REQUEST_SESSION] = services(state).sessions()
    return session  # type: ignore[no-any-return]


async def close_request_session(scope: Scope) -> None:
    session = scope.get("state", {}).pop(REQUEST_SESSION, None)
    if session is not None:
        await session.close()


async def provide_db(scope: Scope, state: State) -> AsyncIterator[AsyncSession]:
    try:
        yield request_session(scope, state)
    finally:
        # Before the response goes out; a session the handler never asked for is closed by
        # the app's middleware once the request is done.
        await close_request_session(scope)
