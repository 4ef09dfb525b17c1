"""The two clients: the resources, calls and flows are written once (:mod:`._resources`,
:mod:`._api`, :mod:`._core`); each client only carries them out, with blocking I/O or asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, Never, TypeVar

import httpx

from lakeplane.client import _api
from lakeplane.client._core import (
    OPENAPI,
    Call,
    Flow,
    Pause,
    ServerInfo,
    Steps,
    check_server,
    pages,
    returned,
    unreachable,
)
from lakeplane.client._resources import ClientBase
from lakeplane.db.pagination import Page
from lakeplane.domain.auth.schemas import MeOut

T = TypeVar("T")
E = TypeVar("E")


class Client(ClientBase[httpx.Client, httpx.BaseTransport]):
    """A Lakeplane API client; see :class:`~lakeplane.client._resources.ClientBase` for its
    options and :meth:`login`. Use it as a context manager, or call :meth:`close`."""

    def _open(
        self, base_url: str, headers: dict[str, str], timeout: float, transport: httpx.BaseTransport | None
    ) -> httpx.Client:
        return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, call: Call[T]) -> T:
        """Send ``call``, retrying as :attr:`retry` allows; raise the problem as its error class."""
        attempts = Steps(self._exchange(call))
        for wait in attempts:
            time.sleep(wait)
            attempts.answer = self._send(call)
        return attempts.result

    def _send(self, call: Call[Any]) -> httpx.Response | httpx.TransportError:
        try:
            return self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            return exc

    def _stream(self, flow: Flow[E, None]) -> Iterator[E]:
        """The values ``flow`` hands out, as it makes its calls and takes its pauses."""
        steps = Steps(flow)
        for step in steps:
            if isinstance(step, Call):
                steps.answer = self.call(step)
            elif isinstance(step, Pause):
                time.sleep(step.seconds)
            else:
                yield step.value

    def _run(self, flow: Flow[Never, T]) -> T:
        """What ``flow`` returns, once it has made its calls and taken its pauses."""
        return next(self._stream(returned(flow)))

    def pages(self, make: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        return self._stream(pages(make))

    def server(self) -> ServerInfo:
        """The server's name and version; raises IncompatibleServer unless it is a Lakeplane
        API this client speaks."""
        try:
            response = self._http.send(OPENAPI.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self._http.base_url, exc) from exc
        return check_server(response)

    def me(self) -> MeOut:
        return self.call(_api.me())

    def login(self, username: str, password: str, *, name: str = "lakeplane cli", days: int = 90) -> str:
        """Exchange a password for a new API token, use it from now on, and return it."""
        session = self.call(_api.login(username, password))
        try:
            created = self.call(_api.create_token(name, session.csrf_token, days, []))
        finally:
            self.call(_api.logout(session.csrf_token))
            self._http.cookies.clear()
        self._http.headers["authorization"] = f"Bearer {created.token}"
        return created.token


class AsyncClient(ClientBase[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """A Lakeplane API client for asyncio; see :class:`~lakeplane.client._resources.ClientBase`
    for its options and :meth:`login`. Use it as an async context manager, or call :meth:`aclose`."""

    def _open(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, call: Call[T]) -> T:
        """Send ``call``, retrying as :attr:`retry` allows; raise the problem as its error class."""
        attempts = Steps(self._exchange(call))
        for wait in attempts:
            await asyncio.sleep(wait)
            attempts.answer = await self._send(call)
        return attempts.result

    async def _send(self, call: Call[Any]) -> httpx.Response | httpx.TransportError:
        try:
            return await self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            return exc

    async def _stream(self, flow: Flow[E, None]) -> AsyncGenerator[E, None]:
        """The values ``flow`` hands out, as it makes its calls and takes its pauses."""
        steps = Steps(flow)
        for step in steps:
            if isinstance(step, Call):
                steps.answer = await self.call(step)
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            else:
                yield step.value

    async def _run(self, flow: Flow[Never, T]) -> T:
        """What ``flow`` returns, once it has made its calls and taken its pauses."""
        async with contextlib.aclosing(self._stream(returned(flow))) as values:
            return await anext(values)

    def pages(self, make: Callable[[str | None], Call[Page[T]]]) -> AsyncIterator[T]:
        return self._stream(pages(make))

    async def server(self) -> ServerInfo:
        """The server's name and version; raises IncompatibleServer unless it is a Lakeplane
        API this client speaks."""
        try:
            response = await self._http.send(OPENAPI.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self._http.base_url, exc) from exc
        return check_server(response)

    async def me(self) -> MeOut:
        return await self.call(_api.me())

    async def login(
        self, username: str, password: str, *, name: str = "lakeplane cli", days: int = 90
    ) -> str:
        """Exchange a password for a new API token, use it from now on, and return it."""
        session = await self.call(_api.login(username, password))
        try:
            created = await self.call(_api.create_token(name, session.csrf_token, days, []))
        finally:
            await self.call(_api.logout(session.csrf_token))
            self._http.cookies.clear()
        self._http.headers["authorization"] = f"Bearer {created.token}"
        return created.token
