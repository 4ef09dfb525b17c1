"""Problem documents map onto the ``lakeplane.errors`` tree by ``type``, then by ``status``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lakeplane import errors
from lakeplane.client import IncompatibleServer, RetryPolicy
from lakeplane.client._core import Call
from lakeplane.client._errors import _BY_CODE, from_response

TYPE = "https://lakeplane.dev/problems/"


def answer(
    status: int, body: Any, headers: dict[str, str] | None = None, kind: str = "application/problem+json"
) -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1:1/api/v1/workspaces")
    if isinstance(body, dict):
        return httpx.Response(
            status, json=body, headers={"content-type": kind, **(headers or {})}, request=request
        )
    return httpx.Response(status, text=body, headers={"content-type": kind}, request=request)


def problem(code: str, status: int, **extra: Any) -> dict[str, Any]:
    return {"type": TYPE + code, "title": code.replace("-", " "), "status": status, "detail": "why", **extra}


@pytest.mark.parametrize("cls", sorted(set(_BY_CODE.values()), key=lambda c: c.__name__))
def test_every_error_class_comes_back_from_its_code(cls: type[errors.LakeplaneError]) -> None:
    exc = from_response(answer(cls.status, problem(cls.code, cls.status), {"retry-after": "7"}))
    assert type(exc) is cls
    assert exc.detail == "why" and exc.extra["title"] == cls.code.replace("-", " ")
    assert exc.extra["status"] == cls.status


def test_validation_errors_and_retry_after_are_kept() -> None:
    fields = [{"field": "slug", "message": "bad"}]
    exc = from_response(answer(422, problem("validation-failed", 422, errors=fields)))
    assert isinstance(exc, errors.ValidationFailed) and exc.extra["errors"] == fields
    limited = from_response(answer(429, problem("too-many-requests", 429), {"retry-after": "12"}))
    assert isinstance(limited, errors.TooManyRequests) and limited.retry_after == 12


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("method-not-allowed", 405, errors.ClientError),
        ("something-new", 415, errors.ClientError),
        ("internal", 500, errors.ServerError),
        ("something-new", 404, errors.NotFound),
        ("something-new", 503, errors.ServiceUnavailable),
    ],
)
def test_an_unknown_code_falls_back_on_the_status(code: str, status: int, cls: type[Exception]) -> None:
    assert type(from_response(answer(status, problem(code, status)))) is cls


@pytest.mark.parametrize(
    "response",
    [
        answer(404, "<html>not found</html>", kind="text/html"),
        answer(500, {"type": "about:blank", "title": "x", "status": 500}, kind="application/json"),
    ],
)
def test_answers_that_are_not_lakeplane_problems_name_the_server(response: httpx.Response) -> None:
    exc = from_response(response)
    assert isinstance(exc, IncompatibleServer) and "not a Lakeplane API server" in exc.detail


def test_retry_policy() -> None:
    policy = RetryPolicy(attempts=2, max_wait=10)
    read = Call("GET", "/x", None, safe=True)
    write = Call("POST", "/x", None)
    assert policy.wait_for(write, answer(429, {}, {"retry-after": "3"}), 0) == 3
    assert policy.wait_for(write, answer(429, {}, {"retry-after": "30"}), 0) is None
    assert policy.wait_for(write, answer(503, {}, {"retry-after": "1"}), 0) is None
    assert policy.wait_for(read, answer(503, {}, {"retry-after": "1"}), 0) == 1
    assert policy.wait_for(read, answer(503, {}, {"retry-after": "1"}), 2) is None
    assert policy.wait_for(read, answer(404, {}), 0) is None
    assert policy.wait_after_failure(write, 0) is None and policy.wait_after_failure(read, 0) == 0.5
