"""Every error leaves the API as an RFC 9457 problem document (``application/problem+json``).

Bodies carry ``type``, ``title``, ``status``, ``detail`` and a stable ``code``;
validation problems add ``errors`` (one per field). Nothing internal (stack
traces, SQL, driver messages) is ever put in a body.

Statuses for bad input: a body that cannot be read is 400 (``malformed-body``, from
:mod:`lakeplane.web.decoding`); one that was read but does not fit the route's schema,
or a query parameter that does not, is 422 (``validation-failed``), whoever noticed.
A value the database refuses to store (out of its range) is 422 as well.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions import ValidationException as LitestarValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError

from lakeplane.db.engine import is_outage
from lakeplane.errors import LakeplaneError, ServiceUnavailable, TooManyRequests
from lakeplane.security.redact import SECRETS

log = logging.getLogger("lakeplane.web")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://lakeplane.dev/problems/"


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    # A detail may echo what the caller sent (an id in the path): never a secret this process knows.
    body = {
        "type": TYPE_BASE + code,
        "title": code.replace("-", " "),
        "status": status,
        "detail": SECRETS(detail),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def lakeplane_error(request: Request[Any, Any, Any], exc: LakeplaneError) -> Response[Any]:
    headers = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, ServiceUnavailable):
        headers["Retry-After"] = "2"
    if exc.status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc.detail)
    return problem(exc.status, exc.code, exc.detail, headers, request_id=_request_id(request), **exc.extra)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, LitestarValidationException):
        errors = [
            {"field": str(e.get("key", "")), "message": str(e.get("message", ""))}
            for e in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(e, dict)
        ]
        detail = "the request is not valid" if str(exc.detail).startswith("Validation failed") else exc.detail
        return problem(422, "validation-failed", detail, errors=errors, request_id=_request_id(request))
    code = {
        400: "bad-request",
        401: "not-authenticated",
        403: "permission-denied",
        404: "not-found",
        405: "method-not-allowed",
        413: "payload-too-large",
        415: "unsupported-media-type",
    }.get(exc.status_code, "http-error")
    if isinstance(exc, NotAuthorizedException):
        code = "not-authenticated"
    if isinstance(exc, PermissionDeniedException):
        code = "permission-denied"
    return problem(
        exc.status_code, code, str(exc.detail), dict(exc.headers or {}), request_id=_request_id(request)
    )


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_outage(exc):
        return lakeplane_error(
            request, ServiceUnavailable("the metadata database is unavailable; retry shortly")
        )
    if isinstance(exc, DataError):
        # The database refused a value (out of range, not storable): input the checks before
        # it let through. Said as a validation failure; the detail never quotes the driver.
        log.warning("%s %s: the database refused a value: %s", request.method, request.url.path, exc.orig)
        return problem(
            422,
            "validation-failed",
            "a value in the request is out of the range the database stores",
            errors=[],
            request_id=_request_id(request),
        )
    if isinstance(exc, RecursionError):
        return problem(400, "malformed-body", "the request nests too deeply", request_id=_request_id(request))
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; the request id identifies it in the server log",
        request_id=_request_id(request),
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    LakeplaneError: lakeplane_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}


def problem_for(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """The problem the API answers ``exc`` with: the admin UI shows the same one as a page."""
    handler = next(h for kind, h in EXCEPTION_HANDLERS.items() if isinstance(exc, kind))
    response: Response[dict[str, Any]] = handler(request, exc)
    return response


__all__ = ["EXCEPTION_HANDLERS", "PROBLEM", "MediaType", "problem", "problem_for"]
