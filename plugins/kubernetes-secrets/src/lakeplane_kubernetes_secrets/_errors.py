"""Every kubernetes-asyncio and aiohttp exception becomes a Lakeplane error here, and only here.

    kubernetes-asyncio / aiohttp                    Lakeplane
    ApiException 401                                BadCredentials (token rejected or expired)
    ApiException 403                                BadCredentials (verb, Secret, namespace)
    ApiException 404                                SecretUnavailable
    ApiException 409                                Conflict (someone else wrote it first)
    ApiException 400, 422                           ValidationFailed (the API server's message)
    ApiException 429, 5xx, any other                UpstreamError
    aiohttp.ClientError, OSError, TimeoutError      UpstreamError ("unreachable")
    ConfigException, unreadable kubeconfig          ConfigError (one line naming the problem)

No message holds a secret value: the API server names objects in its Status answers, never
their data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from lakeplane.errors import (
    BadCredentials,
    ConfigError,
    Conflict,
    LakeplaneError,
    SecretUnavailable,
    UpstreamError,
    ValidationFailed,
)


def _message(exc: ApiException) -> str:
    raw: Any = exc.body
    body = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return str(message or exc.reason or exc.status)


def _mapped(exc: ApiException, what: str) -> LakeplaneError:
    status, message = exc.status, _message(exc)
    if status == 401:
        return BadCredentials(
            f"the Kubernetes API server rejected the credentials (401 Unauthorized) to {what}: "
            "the token is invalid or expired"
        )
    if status == 403:
        return BadCredentials(f"Kubernetes RBAC refused to {what} (403 Forbidden): {message}")
    if status == 404:
        return SecretUnavailable(f"Kubernetes: cannot {what}: {message}")
    if status == 409:
        return Conflict(f"Kubernetes: cannot {what}: {message}")
    if status in (400, 422):
        return ValidationFailed(f"the Kubernetes API server refused to {what}: {message}")
    return UpstreamError(f"Kubernetes failed to {what} ({status} {exc.reason}): {message}")


@contextmanager
def kubernetes_errors(what: str) -> Iterator[None]:
    """Map whatever the client raises while it does ``what`` (``get secrets/x in namespace y``)."""
    try:
        yield
    except ApiException as exc:
        raise _mapped(exc, what) from exc
    except ConfigException as exc:
        raise ConfigError("secret_store.options.kubeconfig", str(exc).strip().splitlines()[0]) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise UpstreamError(
            f"the Kubernetes API server is unreachable ({what}): {type(exc).__name__}"
        ) from exc
