"""What the sync and async clients share: requests described as :class:`Call`, the answer
decoded or turned into a typed error, the retry loop and the flows that make several calls,
written once without I/O (as httpx writes an auth flow) and driven by each client."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Generator
from typing import Any, Generic, Never, TypeAlias, TypeVar

import httpx
import msgspec

from lakeplane import __version__
from lakeplane.client import _errors
from lakeplane.db.pagination import Page

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
E = TypeVar("E")
R = TypeVar("R")

API_PREFIX = "/api/v1"
USER_AGENT = f"lakeplane-client/{__version__}"
#: Answers that mean "not done, come back later".
RETRY_STATUSES = frozenset({429, 503})


@dataclasses.dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API request and the type its body decodes into (None: no body)."""

    method: str
    path: str
    type: type[T] | None
    params: dict[str, Any] | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    #: Whether sending it twice does no harm (reads, and writes with an idempotency key).
    safe: bool = False

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {k: v for k, v in (self.params or {}).items() if v is not None}
        content = None if self.body is None else msgspec.json.encode(self.body)
        headers = dict(self.headers or {})
        if content is not None:
            headers["content-type"] = "application/json"
        return client.build_request(self.method, self.path, params=params, content=content, headers=headers)


def get(path: str, type: type[T], **params: Any) -> Call[T]:
    return Call("GET", API_PREFIX + path, type, params=params, safe=True)


def send(method: str, path: str, type: type[T] | None, body: Any = None, **options: Any) -> Call[T]:
    return Call(method, API_PREFIX + path, type, body=body, **options)


def idempotency_key() -> str:
    return str(uuid.uuid4())


def fields(**values: Any) -> dict[str, Any]:
    """A request body from keyword arguments, leaving out those not given."""
    return {k: v for k, v in values.items() if v is not msgspec.UNSET}


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode(call: Call[T], response: httpx.Response) -> T:
    """The body of a 2xx answer as ``call.type``; a body that does not fit names the server."""
    if call.type is None:
        return None  # type: ignore[return-value]
    decoder = _decoders.get(call.type)
    if decoder is None:
        decoder = _decoders[call.type] = msgspec.json.Decoder(call.type)
    try:
        return decoder.decode(response.content)  # type: ignore[no-any-return]
    except msgspec.DecodeError as exc:
        raise _errors.not_lakeplane(response) from exc


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``429``/``503`` are retried after their ``Retry-After`` when it is at most ``max_wait``
    seconds, ``attempts`` times at most; transport failures only for safe calls."""

    attempts: int = 3
    max_wait: float = 30.0
    backoff: float = 0.5

    def wait_for(self, call: Call[Any], response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending ``call`` again, or None to give up and raise."""
        if attempt >= self.attempts or response.status_code not in RETRY_STATUSES:
            return None
        # 429 is refused before any work is done; 503 may be a lost database mid-write.
        if response.status_code == 503 and not call.safe:
            return None
        asked = _errors.retry_after(response)
        wait: float = self.backoff * 2.0**attempt if asked is None else float(asked)
        return wait if wait <= self.max_wait else None

    def wait_after_failure(self, call: Call[Any], attempt: int) -> float | None:
        if attempt >= self.attempts or not call.safe:
            return None
        return self.backoff * 2.0**attempt


def exchange(
    call: Call[T], policy: RetryPolicy, base_url: httpx.URL
) -> Generator[float, httpx.Response | httpx.TransportError, T]:
    """The retry loop of one call: it yields the seconds to wait before each send (0 before
    the first), is sent the answer or the transport error, and returns the decoded body."""
    attempt = 0
    answer = yield 0.0
    while True:
        if isinstance(answer, httpx.TransportError):
            wait = policy.wait_after_failure(call, attempt)
            if wait is None:
                raise unreachable(base_url, answer) from answer
        else:
            wait = policy.wait_for(call, answer, attempt)
            if wait is None:
                return outcome(call, answer)
        attempt += 1
        answer = yield wait


class Steps(Generic[E, R]):
    """A generator's steps for a ``for`` loop that answers them: set :attr:`answer` before
    the next step; once it is over, :attr:`result` is what it returned."""

    def __init__(self, steps: Generator[E, Any, R]) -> None:
        self._steps = steps
        self.answer: Any = None
        self.result: R

    def __iter__(self) -> Steps[E, R]:
        return self

    def __next__(self) -> E:
        answer, self.answer = self.answer, None
        try:
            return self._steps.send(answer)
        except StopIteration as stop:
            self.result = stop.value
            raise


@dataclasses.dataclass(frozen=True, slots=True)
class Pause:
    """A flow's step: sleep this long, then go on."""

    seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class Emit(Generic[T_co]):
    """A flow's step: hand ``value`` to the caller."""

    value: T_co


#: A conversation with the API: it yields the calls to make (and is sent each decoded
#: answer), the pauses to take and the values to hand to the caller; it returns ``R``.
Flow: TypeAlias = Generator[Call[Any] | Pause | Emit[E], Any, R]


def pages(make: Callable[[str | None], Call[Page[T]]]) -> Flow[T, None]:
    """Every item of a list, following ``next_cursor`` from page to page."""
    cursor: str | None = None
    while True:
        page: Page[T] = yield make(cursor)
        for item in page.items:
            yield Emit(item)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def returned(flow: Flow[Never, R]) -> Flow[R, None]:
    """``flow`` handing out its result as its only value: an async generator cannot return one."""
    yield Emit((yield from flow))


def outcome(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise _errors.from_response(response)
    return decode(call, response)


def unreachable(base_url: httpx.URL, exc: httpx.TransportError) -> _errors.ServerUnreachable:
    return _errors.ServerUnreachable(f"no answer from {base_url}: {exc}")


def auth_headers(token: str | None) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT, "accept": "application/json, application/problem+json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


class ServerInfo(msgspec.Struct):
    title: str
    version: str


class _OpenAPI(msgspec.Struct):
    info: ServerInfo
    paths: dict[str, Any] = {}


OPENAPI = Call("GET", "/api/openapi.json", _OpenAPI, safe=True)


def check_server(response: httpx.Response) -> ServerInfo:
    """The server's name and version from its OpenAPI document; raise unless it is a
    Lakeplane API of the same major version that serves ``/api/v1``."""
    if response.status_code != 200:
        raise _errors.not_lakeplane(response)
    document = decode(OPENAPI, response)
    if document.info.title != "Lakeplane API":
        raise _errors.not_lakeplane(response)
    major = __version__.split(".")[0]
    if document.info.version.split(".")[0] != major or not any(
        p.startswith(API_PREFIX + "/") for p in document.paths
    ):
        raise _errors.IncompatibleServer(
            f"{response.request.url.copy_with(path='/', query=None)} runs Lakeplane "
            f"{document.info.version}, which this client ({__version__}, API v1) cannot speak to"
        )
    return document.info
