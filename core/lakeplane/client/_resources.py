"""The API's resources, written once for both clients, and the base both clients share.

Each method is an operation of :mod:`._api` bound to the client that carries it: the blocking
:class:`~lakeplane.client.Client` returns what the operation answers, the
:class:`~lakeplane.client.AsyncClient` an awaitable of it (async iterators for lists).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Concatenate, Generic, Never, ParamSpec, Protocol, Self, TypeVar, overload

import httpx

from lakeplane.client import _api
from lakeplane.client._core import Call, Flow, RetryPolicy, auth_headers, exchange

T = TypeVar("T")
E = TypeVar("E")
P = ParamSpec("P")
C_co = TypeVar("C_co", covariant=True)
H = TypeVar("H", httpx.Client, httpx.AsyncClient)
X = TypeVar("X", httpx.BaseTransport, httpx.AsyncBaseTransport)


class Blocking(Protocol):
    """What the blocking client offers the resources it carries."""

    page_size: int

    def call(self, call: Call[T]) -> T: ...
    def _stream(self, flow: Flow[E, None]) -> Iterator[E]: ...
    def _run(self, flow: Flow[Never, T]) -> T: ...


class Awaited(Protocol):
    """What the asyncio client offers the resources it carries."""

    page_size: int

    async def call(self, call: Call[T]) -> T: ...
    def _stream(self, flow: Flow[E, None]) -> AsyncIterator[E]: ...
    async def _run(self, flow: Flow[Never, T]) -> T: ...


class Resource(Generic[C_co]):
    def __init__(self, client: C_co) -> None:
        self._client = client


class _Bound(Generic[P]):
    """A resource method: ``build`` makes the operation from the method's arguments and
    :meth:`_drive` has the resource's client carry it out."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self._build = build

    def _drive(self, client: Any, operation: Any) -> Any:
        raise NotImplementedError

    def _bind(self, resource: Resource[Any] | None) -> Any:
        if resource is None:
            return self
        client, build, drive, leading = resource._client, self._build, self._drive, self._leading

        @functools.wraps(build)
        def method(*args: Any, **kwargs: Any) -> Any:
            return drive(client, build(*leading(client), *args, **kwargs))

        return method

    def _leading(self, client: Any) -> tuple[Any, ...]:
        return ()


class call(_Bound[P], Generic[P, T]):
    """A request, or a flow of several: its decoded answer, or what the flow returns."""

    def __init__(self, build: Callable[P, Call[T] | Flow[Never, T]]) -> None:
        super().__init__(build)

    def _drive(self, client: Any, operation: Any) -> Any:
        return client.call(operation) if isinstance(operation, Call) else client._run(operation)

    @overload
    def __get__(self, resource: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, resource: Resource[Blocking], owner: Any) -> Callable[P, T]: ...
    @overload
    def __get__(self, resource: Resource[Awaited], owner: Any) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, resource: Resource[Any] | None, owner: Any) -> Any:
        return self._bind(resource)


class stream(_Bound[P], Generic[P, T]):
    """A flow that hands out values: they come as the flow goes on."""

    def __init__(self, build: Callable[P, Flow[T, None]]) -> None:
        super().__init__(build)

    def _drive(self, client: Any, operation: Any) -> Any:
        return client._stream(operation)

    @overload
    def __get__(self, resource: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, resource: Resource[Blocking], owner: Any) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, resource: Resource[Awaited], owner: Any) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, resource: Resource[Any] | None, owner: Any) -> Any:
        return self._bind(resource)


class listing(stream[P, T]):
    """A list: its items, a page of the client's ``page_size`` at a time."""

    def __init__(self, build: Callable[Concatenate[int, P], Flow[T, None]]) -> None:
        _Bound.__init__(self, build)

    def _leading(self, client: Any) -> tuple[Any, ...]:
        return (client.page_size,)


class Workspaces(Resource[C_co]):
    list = listing(_api.list_workspaces)
    get = call(_api.get_workspace)
    create = call(_api.create_workspace)
    update = call(_api.update_workspace)


class Connections(Resource[C_co]):
    list = listing(_api.list_connections)
    get = call(_api.get_connection)
    create = call(_api.create_connection)
    update = call(_api.update_connection)
    delete = call(_api.delete_connection)
    test = call(_api.test_connection)


class Jobs(Resource[C_co]):
    list = listing(_api.list_jobs)
    get = call(_api.get_job)
    create = call(_api.create_job)
    update = call(_api.update_job)
    versions = listing(_api.list_versions)
    version = call(_api.get_version)


class Runs(Resource[C_co]):
    submit = call(_api.submit_run)
    list = listing(_api.list_runs)
    get = call(_api.get_run)
    stop = call(_api.stop_run)
    rerun = call(_api.rerun)
    logs = call(_api.run_logs)
    follow_logs = stream(_api.follow_logs)
    result = call(_api.run_result)
    wait = call(_api.wait)


class Datasets(Resource[C_co]):
    list = listing(_api.list_datasets)
    get = call(_api.get_dataset)
    create = call(_api.create_dataset)
    update = call(_api.update_dataset)
    delete = call(_api.delete_dataset)


class Schedules(Resource[C_co]):
    list = listing(_api.list_schedules)
    get = call(_api.get_schedule)
    create = call(_api.create_schedule)
    update = call(_api.update_schedule)
    pause = call(_api.pause_schedule)
    resume = call(_api.resume_schedule)
    delete = call(_api.delete_schedule)


class ClientBase(Generic[H, X]):
    """What both clients hold: the httpx client, the retry policy and the page size of lists.

    ``token`` is an API token (``lp_...``). Lists are iterators that fetch the next page as
    they go; ``page_size`` is the ``limit`` of each request.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        transport: X | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self._http: H = self._open(base_url, auth_headers(token), timeout, transport)

    def _open(self, base_url: str, headers: dict[str, str], timeout: float, transport: X | None) -> H:
        """The httpx client, blocking or asyncio."""
        raise NotImplementedError

    @functools.cached_property
    def workspaces(self) -> Workspaces[Self]:
        return Workspaces(self)

    @functools.cached_property
    def connections(self) -> Connections[Self]:
        return Connections(self)

    @functools.cached_property
    def jobs(self) -> Jobs[Self]:
        return Jobs(self)

    @functools.cached_property
    def runs(self) -> Runs[Self]:
        return Runs(self)

    @functools.cached_property
    def datasets(self) -> Datasets[Self]:
        return Datasets(self)

    @functools.cached_property
    def schedules(self) -> Schedules[Self]:
        return Schedules(self)

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    def _exchange(self, call: Call[T]) -> Generator[float, httpx.Response | httpx.TransportError, T]:
        return exchange(call, self.retry, self._http.base_url)
