"""Every error Lakeplane raises on purpose.

The API turns each into an RFC 9457 problem document with the class's ``status``;
plugins map their driver's exceptions onto these in one place, so a botocore,
trino or kubernetes exception never reaches a caller.

    LakeplaneError                      detail, status 500
    ├── ClientError                     400: the caller can fix it
    │   ├── MalformedBody               400: the body cannot be read (JSON, UTF-8, nesting)
    │   ├── UnsupportedMediaType        415: a body in a format the route does not take
    │   ├── ValidationFailed            422 (field errors in ``errors``)
    │   ├── NotFound                    404
    │   │   ├── ObjectNotFound
    │   │   └── TableNotFound
    │   ├── Conflict                    409
    │   ├── PreconditionFailed          412: If-Match names a representation that is no longer current
    │   ├── NotAuthenticated            401
    │   ├── PermissionDenied            403
    │   ├── TooManyRequests             429 (``retry_after`` seconds)
    │   ├── EndpointRefused             422: link-local, metadata or file: endpoint
    │   └── QueryFailed                 422: the engine rejected the statement
    ├── ConfigError                     500: bad config file or environment, at start-up
    └── ServerError                     500
        ├── SecretUnavailable           a stored secret is gone or does not open
        ├── UpstreamError               502: a data-plane service answered badly
        │   ├── BadCredentials          the service refused the connection's credentials
        │   └── EngineUnavailable
        └── ServiceUnavailable          503: the metadata database is down
"""

from __future__ import annotations

from typing import Any, ClassVar


class LakeplaneError(Exception):
    """Root of every deliberate error; ``detail`` is safe to show a user.

    A subclass names its problem ``code`` and, where it differs from its parent's, its HTTP
    ``status`` as class keywords: ``class Gone(ClientError, status=410, code="gone")``.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ClientError(LakeplaneError, status=400, code="bad-request"):
    """The caller can fix it."""


class MalformedBody(ClientError, code="malformed-body"):
    """The body cannot be read (JSON, UTF-8, nesting)."""


class UnsupportedMediaType(ClientError, status=415, code="unsupported-media-type"):
    """A body in a format the route does not take."""


class ValidationFailed(ClientError, status=422, code="validation-failed"):
    """The body does not fit the schema; ``errors`` lists the fields."""

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])


class NotFound(ClientError, status=404, code="not-found"):
    """What the request names does not exist."""


class ObjectNotFound(NotFound, code="object-not-found"):
    """No object under that key in the object store."""


class TableNotFound(NotFound, code="table-not-found"):
    """No table of that name in the catalog."""


class Conflict(ClientError, status=409, code="conflict"):
    """The change clashes with the current state (a name taken, a state that forbids it)."""


class PreconditionFailed(ClientError, status=412, code="precondition-failed"):
    """If-Match names a representation that is no longer current."""


class NotAuthenticated(ClientError, status=401, code="not-authenticated"):
    """No credentials, or credentials that name nobody."""


class PermissionDenied(ClientError, status=403, code="permission-denied"):
    """The caller is known but may not do this."""


class TooManyRequests(ClientError, status=429, code="too-many-requests"):
    """Slow down: ``retry_after`` says for how many seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class EndpointRefused(ClientError, status=422, code="endpoint-refused"):
    """A link-local, metadata or ``file:`` endpoint."""


class QueryFailed(ClientError, status=422, code="query-failed"):
    """The engine rejected the statement."""


class ConfigError(LakeplaneError, code="config"):
    """Raised while loading configuration; ``key`` names the offending setting."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason, key=key)
        self.key = key
        self.reason = reason


class ServerError(LakeplaneError, status=500, code="server-error"):
    """Lakeplane or a service behind it failed; the caller cannot fix it."""


class SecretUnavailable(ServerError, code="secret-unavailable"):
    """A connection's stored secret is missing from its store, or does not open there."""


class UpstreamError(ServerError, status=502, code="upstream-error"):
    """A data-plane service answered badly."""


class BadCredentials(UpstreamError, code="bad-credentials"):
    """The service refused the connection's credentials."""


class EngineUnavailable(UpstreamError, code="engine-unavailable"):
    """The engine cannot take or report work now."""


class ServiceUnavailable(ServerError, status=503, code="service-unavailable"):
    """The metadata database is down."""
