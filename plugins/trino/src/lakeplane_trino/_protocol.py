"""Trino's HTTP APIs over httpx, and the one place their failures become Lakeplane errors.

Two APIs are used. The *client protocol* runs a statement: ``POST /v1/statement``
answers with the query id and a ``nextUri``; the client GETs each ``nextUri`` in
turn (Trino long-polls for about a second) and receives columns, rows and stats
until no ``nextUri`` is left. Trino only dispatches a query once its first
``nextUri`` has been fetched, and abandons a query whose client stops fetching.
The *query REST API* (``GET``/``DELETE /v1/query/{id}``, ``GET /v1/query``)
answers about any query from any process, which is what makes a stored handle
enough to follow or kill the work.

Failures map as follows (:func:`_mapped_errors` and :meth:`TrinoHttp._raise_for`):

    connection refused, DNS, TLS, time-out, 502/503/504  -> EngineUnavailable
    401, 403                                             -> BadCredentials
    other unexpected status or body                      -> UpstreamError
    a query's ``error`` object                           -> QueryFailed (via :func:`query_failed`)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import msgspec

from lakeplane.errors import BadCredentials, EngineUnavailable, QueryFailed, UpstreamError
from lakeplane.security.connect import guarded_httpx_transport
from lakeplane_trino._structs import TrinoParams

#: Trino query ids, e.g. ``20261125_182704_00001_hw54e``; anything else is never sent.
QUERY_ID_PATTERN = re.compile(r"[0-9]{8}_[0-9]{6}_[0-9]{5}_[a-z0-9]{5}")
#: States after which a Trino query does no more work.
DONE_STATES = frozenset({"FINISHED", "FAILED"})

_RETRY_STATUSES = frozenset({502, 503, 504})
_RETRY_DELAYS_S = (0.1, 0.25, 0.5, 1.0)


class ErrorLocation(msgspec.Struct, rename="camel"):
    line_number: int = 0
    column_number: int = 0


class TrinoError(msgspec.Struct, rename="camel"):
    """The ``error`` object of a failed statement."""

    message: str = ""
    error_code: int = 0
    error_name: str = ""
    error_type: str = ""
    error_location: ErrorLocation | None = None


class Column(msgspec.Struct):
    name: str
    type: str


class Page(msgspec.Struct, rename="camel"):
    """One response of the client protocol."""

    id: str
    info_uri: str | None = None
    next_uri: str | None = None
    columns: list[Column] | None = None
    data: list[list[Any]] | None = None
    stats: dict[str, Any] = {}
    error: TrinoError | None = None
    update_type: str | None = None
    update_count: int | None = None

    @property
    def state(self) -> str:
        return str(self.stats.get("state", ""))


class ErrorCode(msgspec.Struct):
    code: int = 0
    name: str = ""
    type: str = ""


class FailureInfo(msgspec.Struct, rename="camel"):
    type: str = ""
    message: str | None = None


class Session(msgspec.Struct, rename="camel"):
    user: str = ""
    source: str | None = None
    client_tags: list[str] = []


class QueryInfo(msgspec.Struct, rename="camel"):
    """What ``/v1/query`` tells about a query (the fields Lakeplane reads)."""

    query_id: str
    state: str
    session: Session = msgspec.field(default_factory=Session)
    query: str = ""
    error_code: ErrorCode | None = None
    failure_info: FailureInfo | None = None
    query_stats: dict[str, Any] = {}
    field_names: list[str] = []

    @property
    def error_message(self) -> str:
        if self.failure_info is not None and self.failure_info.message:
            return self.failure_info.message
        return self.error_code.name if self.error_code else ""


class ServerInfo(msgspec.Struct, rename="camel"):
    node_version: dict[str, Any] = {}
    environment: str = ""
    starting: bool = True


_page_decoder = msgspec.json.Decoder(Page)
_query_decoder = msgspec.json.Decoder(QueryInfo)
_queries_decoder = msgspec.json.Decoder(list[QueryInfo])
_server_decoder = msgspec.json.Decoder(ServerInfo)


def query_failed(error: TrinoError, query_id: str | None) -> QueryFailed:
    """The :class:`QueryFailed` for a statement's ``error`` object."""
    extra: dict[str, Any] = {
        "error_name": error.error_name,
        "error_type": error.error_type,
        "error_code": error.error_code,
        "query_id": query_id,
    }
    if error.error_location is not None:
        extra["line"] = error.error_location.line_number
        extra["column"] = error.error_location.column_number
    return QueryFailed(f"{error.error_name}: {error.message}", **extra)


@contextlib.contextmanager
def _mapped_errors(base_url: str, doing: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise EngineUnavailable(f"Trino at {base_url} did not answer in time while {doing}") from exc
    except httpx.TransportError as exc:
        raise EngineUnavailable(f"Trino at {base_url} is unreachable while {doing}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"Trino at {base_url} sent an unreadable answer while {doing}: {exc}") from exc


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """The TLS context of every client in this process with this ``verify`` setting.

    httpx builds a new context for each client, reading the whole CA bundle
    (``SSL_CERT_FILE``, ``SSL_CERT_DIR`` or certifi's), which took 150-250 ms of CPU
    on the shared 2-core build machine; the worker opens an engine, hence a client,
    for every attempt. Built once here, the bundle is read at the first use: a
    changed bundle takes a restart.
    """
    return httpx.create_ssl_context(verify=verify)


class TrinoHttp:
    """One connection pool to one coordinator, authenticated as the connection's user."""

    def __init__(self, params: TrinoParams, user_agent: str) -> None:
        self.base_url = params.base_url
        auth = httpx.BasicAuth(params.user, params.password) if params.password is not None else None
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=32)
        self._client = httpx.AsyncClient(
            auth=auth,
            # Every connection goes through the endpoint guard, after resolution.
            transport=guarded_httpx_transport(verify=tls_context(params.verify_tls), limits=limits),
            timeout=httpx.Timeout(params.request_timeout_s, connect=min(params.request_timeout_s, 10.0)),
            headers={
                "X-Trino-User": params.user,
                "X-Trino-Source": params.source,
                # Without it Trino rounds time and timestamp values in results to milliseconds.
                "X-Trino-Client-Capabilities": "PARAMETRIC_DATETIME",
                "User-Agent": user_agent,
            },
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def start(self, statement: str, headers: Mapping[str, str]) -> Page:
        """POST the statement; the answer holds the query id but the query is not dispatched yet."""
        with _mapped_errors(self.base_url, "submitting a statement"):
            response = await self._send("POST", "/v1/statement", content=statement.encode(), headers=headers)
            self._raise_for(response)
            return _page_decoder.decode(response.content)

    async def fetch(self, next_uri: str) -> Page:
        """The page at ``next_uri``; fetching is what keeps the query alive."""
        with _mapped_errors(self.base_url, "reading query results"):
            response = await self._send("GET", next_uri)
            self._raise_for(response)
            return _page_decoder.decode(response.content)

    async def query_info(self, query_id: str) -> QueryInfo | None:
        """The query as the coordinator knows it, or ``None`` if it does not (any more)."""
        if not QUERY_ID_PATTERN.fullmatch(query_id):
            return None
        with _mapped_errors(self.base_url, "reading query status"):
            response = await self._send("GET", f"/v1/query/{query_id}", params={"pruned": "true"})
            if response.status_code in (404, 410):
                return None
            self._raise_for(response)
            return _query_decoder.decode(response.content)

    async def queries(self) -> list[QueryInfo]:
        """Every query the coordinator still remembers, as this user may see them."""
        with _mapped_errors(self.base_url, "listing queries"):
            response = await self._send("GET", "/v1/query")
            self._raise_for(response)
            return _queries_decoder.decode(response.content)

    async def kill(self, query_id: str) -> None:
        """Cancel a query for good; unknown or finished queries are left alone."""
        if not QUERY_ID_PATTERN.fullmatch(query_id):
            return
        with _mapped_errors(self.base_url, "cancelling a query"):
            response = await self._send("DELETE", f"/v1/query/{query_id}")
            if response.status_code not in (404, 410):
                self._raise_for(response)

    async def server_info(self) -> ServerInfo:
        with _mapped_errors(self.base_url, "reading server info"):
            response = await self._send("GET", "/v1/info")
            self._raise_for(response)
            return _server_decoder.decode(response.content)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send, retrying where Trino's protocol says a retry is safe.

        A POST is retried only if it cannot have reached Trino (connection not made)
        or Trino said it is not ready (502/503/504); GETs and DELETEs are idempotent.
        """
        if not url.startswith("http"):
            url = self.base_url + url
        for delay in (*_RETRY_DELAYS_S, None):
            try:
                response = await self._client.request(
                    method, url, content=content, headers=headers, params=params
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if delay is None or (method == "POST" and not never_sent):
                    raise
            else:
                if response.status_code not in _RETRY_STATUSES or delay is None:
                    return response
            await asyncio.sleep(delay)
        raise AssertionError("the last attempt returns or raises")

    def _raise_for(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        body = response.text[:500].strip()
        if status in (401, 403):
            raise BadCredentials(f"Trino at {self.base_url} refused the credentials ({status}): {body}")
        if status in _RETRY_STATUSES:
            raise EngineUnavailable(f"Trino at {self.base_url} is not available ({status}): {body}")
        raise UpstreamError(f"Trino at {self.base_url} answered {status}: {body}")
