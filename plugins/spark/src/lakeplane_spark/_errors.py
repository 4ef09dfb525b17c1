"""Every kubernetes-asyncio and aiohttp exception becomes a Lakeplane error here, and only here.

    kubernetes-asyncio / aiohttp                    Lakeplane
    ApiException 401                                BadCredentials (token rejected or expired)
    ApiException 403                                BadCredentials (verb, resource, namespace)
    ApiException 404                                NotFound
    ApiException 409                                Conflict
    ApiException 410                                ResourceExpired (a watch must list again)
    ApiException 400, 422                           ValidationFailed (the API server's message)
    ApiException 429, 5xx, any other               EngineUnavailable
    aiohttp.ClientError, OSError, TimeoutError      EngineUnavailable ("cannot reach ...")
    ConfigException (kubeconfig, in-cluster token)  ConfigError (one line naming the problem)

A message names what was asked (verb, resource, namespace, name) and the API server's own
``message`` from its Status answer, which never holds a secret value: the plugin sends
secrets only in Secret bodies, and the API server does not echo bodies back in errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from lakeplane.errors import (
    BadCredentials,
    ConfigError,
    Conflict,
    EngineUnavailable,
    LakeplaneError,
    NotFound,
    ValidationFailed,
)


class ResourceExpired(EngineUnavailable):
    """410 Gone: the resourceVersion a watch resumed from is too old; list again."""


@dataclass(frozen=True)
class Request:
    """One API request as RBAC sees it: ``create pods in namespace lakeplane-ws-demo``."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        what = f"{self.resource}/{self.name}" if self.name else self.resource
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}{where}"


def status_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status answer, else the HTTP reason."""
    raw: Any = exc.body
    body = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return str(message or exc.reason or exc.status)


def map_api_exception(exc: ApiException, request: Request) -> LakeplaneError:
    status, message = exc.status, status_message(exc)
    if status == 401:
        return BadCredentials(
            f"the Kubernetes API server rejected the credentials (401 Unauthorized) to {request}: "
            "the token is invalid or expired"
        )
    if status == 403:
        return BadCredentials(f"Kubernetes RBAC refused to {request} (403 Forbidden): {message}")
    if status == 404:
        return NotFound(f"Kubernetes: cannot {request}: {message}")
    if status == 409:
        return Conflict(f"Kubernetes: cannot {request}: {message}")
    if status == 410:
        return ResourceExpired(f"Kubernetes: {request}: {message}")
    if status in (400, 422):
        return ValidationFailed(
            f"the Kubernetes API server rejected the request to {request}: {message}",
            [{"field": request.resource, "message": message}],
        )
    return EngineUnavailable(f"Kubernetes failed to {request} ({status} {exc.reason}): {message}")


@contextmanager
def kubernetes_errors(request: Request) -> Iterator[None]:
    """Map whatever the client raises while doing ``request`` to a Lakeplane error."""
    try:
        yield
    except ApiException as exc:
        raise map_api_exception(exc, request) from exc
    except ConfigException as exc:
        raise config_error(exc) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise EngineUnavailable(
            f"the Kubernetes API server is unreachable ({request}): {type(exc).__name__}: {exc}".rstrip(": ")
        ) from exc


def config_error(exc: ConfigException, source: str | None = None) -> ConfigError:
    """A kubeconfig or in-cluster configuration problem, on one line."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = source or "the in-cluster service account"
    return ConfigError("kubeconfig", f"cannot load the Kubernetes configuration from {where}: {first_line}")
