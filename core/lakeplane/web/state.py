"""The request's view of the running service: its :class:`~lakeplane.runtime.Services` and
its one database session."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.pagination import DEFAULT_LIMIT, Paging
from lakeplane.runtime import Services


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


async def provide_paging(cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Paging:
    """A list route's ``?cursor=&limit=``: declared once here, for every list in the API and UI."""
    return Paging(cursor, limit)
