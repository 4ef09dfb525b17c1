"""Errors only the client raises, and the mapping of problem documents onto :mod:`lakeplane.errors`.

LakeplaneError
├── (every class in lakeplane.errors, chosen by the problem's ``type``, then its ``status``)
├── ServerUnreachable       no answer from the URL (refused, DNS, TLS, timeout)
└── IncompatibleServer      the URL answers, but not as a Lakeplane API this client speaks
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from lakeplane import errors

PROBLEM_TYPE_BASE = "https://lakeplane.dev/problems/"


class ServerUnreachable(errors.LakeplaneError, status=503, code="server-unreachable"):
    """No answer from the URL (refused, DNS, TLS, timeout)."""


class IncompatibleServer(errors.LakeplaneError, status=502, code="incompatible-server"):
    """The URL answers, but not as a Lakeplane API this client speaks."""


class Problem(msgspec.Struct):
    """An RFC 9457 problem document as the Lakeplane API sends it."""

    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[dict[str, str]] | None = None
    request_id: str | None = None


_problem_decoder = msgspec.json.Decoder(Problem)


def _classes(root: type[errors.LakeplaneError]) -> list[type[errors.LakeplaneError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _classes(sub)
    return found


_SERVER_SIDE = (ServerUnreachable, IncompatibleServer, errors.ConfigError)
_BY_CODE: dict[str, type[errors.LakeplaneError]] = {
    cls.code: cls
    for cls in _classes(errors.LakeplaneError)
    if cls.__module__ == errors.__name__
    and cls is not errors.LakeplaneError
    and not issubclass(cls, _SERVER_SIDE)
}
#: For a code this client does not know: the broadest class with the status.
_BY_STATUS: dict[int, type[errors.LakeplaneError]] = {
    401: errors.NotAuthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    422: errors.ValidationFailed,
    429: errors.TooManyRequests,
    502: errors.UpstreamError,
    503: errors.ServiceUnavailable,
}


def retry_after(response: httpx.Response) -> int | None:
    """``Retry-After`` in whole seconds (the API sends delta-seconds); None when absent or a date."""
    value = response.headers.get("retry-after", "").strip()
    return int(value) if value.isdigit() else None


def not_lakeplane(response: httpx.Response) -> IncompatibleServer:
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return IncompatibleServer(
        f"{response.request.url.copy_with(path='/', query=None)} is not a Lakeplane API server "
        f"(HTTP {response.status_code}, {kind} from {response.request.method} {response.request.url.path})"
    )


def from_response(response: httpx.Response) -> errors.LakeplaneError:
    """The typed error for a 4xx/5xx answer; ``detail``, ``errors``, ``retry_after`` and the
    problem's ``title``, ``status`` and ``request_id`` are kept (the last in ``extra``)."""
    try:
        problem = _problem_decoder.decode(response.content)
    except msgspec.DecodeError:
        return not_lakeplane(response)
    if not problem.type.startswith(PROBLEM_TYPE_BASE):
        return not_lakeplane(response)
    code = problem.type[len(PROBLEM_TYPE_BASE) :]
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = _BY_STATUS.get(problem.status) or (
            errors.ClientError if problem.status < 500 else errors.ServerError
        )
    exc: errors.LakeplaneError = cls.__new__(cls)
    extra: dict[str, Any] = {
        "title": problem.title,
        "status": problem.status,
        "code": code,
        "request_id": problem.request_id,
        "errors": problem.errors or [],
        "retry_after": retry_after(response),
    }
    errors.LakeplaneError.__init__(exc, problem.detail or problem.title, **extra)
    if isinstance(exc, errors.TooManyRequests):
        exc.retry_after = extra["retry_after"] or 1
    return exc


def title_of(exc: errors.LakeplaneError) -> str:
    """The problem's title, or the class's code for an error raised here."""
    return str(exc.extra.get("title") or exc.code.replace("-", " "))
