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
    """Root of every deliberate error; ``detail`` is safe to show a user."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ClientError(LakeplaneError):
    status = 400
    code = "bad-request"


class MalformedBody(ClientError):
    status = 400
    code = "malformed-body"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported-media-type"


class ValidationFailed(ClientError):
    status = 422
    code = "validation-failed"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])


class NotFound(ClientError):
    status = 404
    code = "not-found"


class ObjectNotFound(NotFound):
    code = "object-not-found"


class TableNotFound(NotFound):
    code = "table-not-found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class PreconditionFailed(ClientError):
    status = 412
    code = "precondition-failed"


class NotAuthenticated(ClientError):
    status = 401
    code = "not-authenticated"


class PermissionDenied(ClientError):
    status = 403
    code = "permission-denied"


class TooManyRequests(ClientError):
    status = 429
    code = "too-many-requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class EndpointRefused(ClientError):
    status = 422
    code = "endpoint-refused"


class QueryFailed(ClientError):
    status = 422
    code = "query-failed"


class ConfigError(LakeplaneError):
    """Raised while loading configuration; ``key`` names the offending setting."""

    code = "config"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason, key=key)
        self.key = key
        self.reason = reason


class ServerError(LakeplaneError):
    status = 500
    code = "server-error"


class SecretUnavailable(ServerError):
    """A connection's stored secret is missing from its store, or does not open there."""

    code = "secret-unavailable"


class UpstreamError(ServerError):
    status = 502
    code = "upstream-error"


class BadCredentials(UpstreamError):
    code = "bad-credentials"


class EngineUnavailable(UpstreamError):
    code = "engine-unavailable"


class ServiceUnavailable(ServerError):
    status = 503
    code = "service-unavailable"
