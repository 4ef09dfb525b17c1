"""Every kubernetes-asyncio and aiohttp exception becomes a Lakeplane error here, for every
plugin that talks to a Kubernetes API server.

    kubernetes-asyncio / aiohttp                    Lakeplane
    ApiException 401                                BadCredentials (token rejected or expired)
    ApiException 403                                BadCredentials (verb, resource, namespace)
    ApiException 404                                the plugin's ``not_found``
    ApiException 409                                Conflict
    ApiException 410                                the plugin's ``expired`` (a watch lists again)
    ApiException 400, 422                           ValidationFailed (the API server's message)
    ApiException 429, 5xx, any other                the plugin's ``unavailable``
    aiohttp.ClientError, OSError, TimeoutError      the plugin's ``unavailable`` ("unreachable")
    ConfigException, unreadable kubeconfig          ConfigError (one line naming the problem)

A plugin names its own error types once, in a :class:`KubernetesErrors`, and wraps each
request in it::

    kubernetes_errors = KubernetesErrors(not_found=SecretUnavailable, unavailable=UpstreamError)

    with kubernetes_errors(Request("get", "secrets", namespace, name)):
        secret = await core.read_namespaced_secret(name, namespace)

A message names what was asked (verb, resource, namespace, name) and the API server's own
``message`` from its Status answer, which never holds a secret value: the API server names
objects in its errors, never their data.

kubernetes-asyncio is imported when a client is built or an error is mapped, not with this
module: the core does not depend on it, and a plugin may use it only in an optional backend.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeplane import errors
from lakeplane.security.endpoints import endpoint_guard

if TYPE_CHECKING:
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client.exceptions import ApiException

__all__ = ["KubernetesErrors", "Request", "guarded_api_client", "load_configuration", "status_message"]


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


@dataclass(frozen=True)
class KubernetesErrors:
    """The Lakeplane errors one plugin raises for what the API server, or the way to it, answers."""

    #: 404: the object asked for is not there.
    not_found: type[errors.LakeplaneError] = errors.NotFound
    #: 429, 5xx, any other status, and an API server that cannot be reached.
    unavailable: type[errors.LakeplaneError] = errors.EngineUnavailable
    #: 410: the resourceVersion a watch resumed from is too old; ``None`` counts it ``unavailable``.
    expired: type[errors.LakeplaneError] | None = None
    #: The option a :class:`~lakeplane.errors.ConfigError` names.
    config_field: str = "kubeconfig"

    @contextmanager
    def __call__(self, request: Request) -> Iterator[None]:
        """Map whatever the client raises while doing ``request`` to a Lakeplane error."""
        try:
            yield
        except Exception as exc:
            mapped = self.map(exc, request)
            if mapped is None:
                raise
            raise mapped from exc

    def map(self, exc: Exception, request: Request) -> errors.LakeplaneError | None:
        """The Lakeplane error for ``exc``; ``None`` for one that neither the client nor the
        network raised (a Lakeplane error among them), which goes on as it is."""
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException
        from kubernetes_asyncio.config.config_exception import ConfigException

        if isinstance(exc, errors.LakeplaneError):
            return None
        if isinstance(exc, ApiException):
            return self.answered(exc, request)
        if isinstance(exc, ConfigException):
            return errors.ConfigError(
                self.config_field,
                f"cannot load the Kubernetes configuration: {_first_line(exc, type(exc).__name__)}",
            )
        if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
            return self.unavailable(
                f"the Kubernetes API server is unreachable ({request}): "
                f"{type(exc).__name__}: {_first_line(exc)}".rstrip(": ")
            )
        return None

    def answered(self, exc: ApiException, request: Request) -> errors.LakeplaneError:
        """The Lakeplane error for the API server's error answer to ``request``."""
        status, message = exc.status, status_message(exc)
        if status == 401:
            return errors.BadCredentials(
                f"the Kubernetes API server rejected the credentials (401 Unauthorized) to {request}: "
                "the token is invalid or expired"
            )
        if status == 403:
            return errors.BadCredentials(f"Kubernetes RBAC refused to {request} (403 Forbidden): {message}")
        if status == 404:
            return self.not_found(f"Kubernetes: cannot {request}: {message}")
        if status == 409:
            return errors.Conflict(f"Kubernetes: cannot {request}: {message}")
        if status == 410 and self.expired is not None:
            return self.expired(f"Kubernetes: {request}: {message}")
        if status in (400, 422):
            return errors.ValidationFailed(
                f"the Kubernetes API server rejected the request to {request}: {message}",
                [{"field": request.resource, "message": message}],
            )
        return self.unavailable(f"Kubernetes failed to {request} ({status} {exc.reason}): {message}")


async def load_configuration(
    kubeconfig: str | None, context: str | None = None, *, field: str = "kubeconfig"
) -> client.Configuration:
    """The client configuration of a kubeconfig file (and a ``context`` in it), or of the pod's
    service account when ``kubeconfig`` is ``None``. A file that is missing or not a kubeconfig,
    an unknown context, a missing in-cluster token: a ConfigError naming ``field``, on one line.
    """
    import yaml
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.config.config_exception import ConfigException

    configuration = client.Configuration()
    if kubeconfig and not await asyncio.to_thread(os.path.isfile, kubeconfig):
        raise errors.ConfigError(field, f"{kubeconfig} does not exist or is not a file")
    where = kubeconfig or "the in-cluster service account"
    try:
        if kubeconfig:
            await config.load_kube_config(
                config_file=kubeconfig,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        # A ConfigException's first line says what is wrong; any other error is named only by
        # its type, since a YAML error quotes the file and the file holds the token.
        config_problem = isinstance(exc, ConfigException)
        reason = _first_line(exc, type(exc).__name__) if config_problem else type(exc).__name__
        raise errors.ConfigError(
            field, f"cannot load the Kubernetes configuration from {where}: {reason}"
        ) from exc
    return configuration


def guarded_api_client(
    configuration: client.Configuration, api_class: type[client.ApiClient] | None = None
) -> client.ApiClient:
    """An API client (an ``api_class``, by default the plain one) whose connections go through
    the endpoint guard: the host as written now, and every address it resolves to later."""
    from kubernetes_asyncio import client

    from lakeplane.security.connect_aiohttp import guard_connector

    endpoint_guard().check("kubernetes", configuration.host or "", resolve=False)
    api = (api_class or client.ApiClient)(configuration=configuration)
    guard_connector(api.rest_client.pool_manager.connector)
    return api


def _first_line(exc: BaseException, default: str = "") -> str:
    return (str(exc).strip().splitlines() or [default])[0]
