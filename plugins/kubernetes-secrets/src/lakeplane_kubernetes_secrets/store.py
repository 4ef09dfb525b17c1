"""The ``kubernetes`` secret store: one Kubernetes Secret per connection.

A connection's secret fields are the keys of the Secret
``<name_prefix><connection id>`` in the store's namespace, labelled
``app.kubernetes.io/managed-by=lakeplane`` and annotated with the connection id. The
connection's row keeps, per field, only where the value is::

    {"store": "kubernetes", "namespace": "lakeplane", "secret": "lakeplane-conn-...", "key": "password"}

Keys and their rotation belong to the API server (its ``EncryptionConfiguration``
encrypts Secrets in etcd), so :meth:`KubernetesSecretStore.rotate` has nothing to do. Writes
replace the Secret with the ``resourceVersion`` that was read, so two writers of one
connection do not lose each other's fields.

Rights needed in the namespace (a Role bound to the control plane's ServiceAccount):
``get``, ``create``, ``update`` and ``delete`` on ``secrets``; nothing cluster-wide.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, ClassVar

import msgspec
from kubernetes_asyncio import client

from lakeplane.drivers.kubernetes import Request, guarded_api_client, load_configuration
from lakeplane.errors import ConfigError, Conflict, LakeplaneError, SecretUnavailable
from lakeplane.interfaces import Check, CheckResult, CheckStatus, SecretStore, Stored
from lakeplane_kubernetes_secrets._errors import kubernetes_errors

K8sName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
K8sPrefix = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][-a-z0-9]{0,30}$")]
CONNECTION_ANNOTATION = "lakeplane.dev/connection-id"
ROLE_LABEL = "lakeplane.dev/role"
MANAGED_BY = ("app.kubernetes.io/managed-by", "lakeplane")
IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#: Attempts at a write that loses the race to another writer of the same Secret.
WRITE_ATTEMPTS = 5


class KubernetesSecretsOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[secret_store.options]`` of the ``kubernetes`` store."""

    #: Where the Secrets are kept; by default the namespace of the pod's service account.
    namespace: K8sName | None = None
    #: A kubeconfig file; ``None`` means the in-cluster service account.
    kubeconfig: str | None = None
    kube_context: str | None = None
    name_prefix: K8sPrefix = "lakeplane-conn-"


class KubernetesSecretStore(SecretStore):
    name: ClassVar[str] = "kubernetes"
    description: ClassVar[str] = "connection secrets in Kubernetes Secrets, one per connection"
    Options: ClassVar[type[msgspec.Struct]] = KubernetesSecretsOptions

    options: KubernetesSecretsOptions

    def secret_name(self, connection_id: str) -> str:
        """``<prefix><id as a DNS label>-<hash>``: ids differing only in case do not collide."""
        label = re.sub(r"[^a-z0-9-]", "-", connection_id.lower()).strip("-")[:40]
        digest = hashlib.sha256(connection_id.encode()).hexdigest()[:10]
        return f"{self.options.name_prefix}{label}-{digest}"

    async def namespace(self) -> str:
        if self.options.namespace:
            return self.options.namespace
        try:
            found = (await asyncio.to_thread(_read_text, IN_CLUSTER_NAMESPACE)).strip()
        except OSError:
            found = ""
        if not found:
            raise ConfigError(
                "secret_store.options.namespace", "not set, and this process runs in no Kubernetes pod"
            )
        return found

    async def health(self) -> CheckResult:
        started = time.perf_counter()
        try:
            namespace = await self.namespace()
            async with self._core() as core:
                probe = self.secret_name("health-probe")
                with kubernetes_errors(Request("get", "secrets", namespace, probe)):
                    await core.read_namespaced_secret(probe, namespace)
        except SecretUnavailable:
            pass  # the API server answered and RBAC let us look: what a real read needs
        except LakeplaneError as exc:
            return CheckResult.of([Check("kubernetes secrets", CheckStatus.FAILED, exc.detail)], started)
        return CheckResult.of(
            [Check("kubernetes secrets", CheckStatus.OK, f"namespace {namespace}")], started
        )

    async def put(self, connection_id: str, values: Mapping[str, str], stored: Stored) -> Stored:
        if not values:
            return dict(stored)
        namespace = await self.namespace()
        name = self.secret_name(connection_id)
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        async with self._core() as core:
            for attempt in range(WRITE_ATTEMPTS):
                existing = await self._read(core, namespace, name)
                try:
                    if existing is None:
                        body = self._manifest(connection_id, namespace, name, encoded)
                        with kubernetes_errors(Request("create", "secrets", namespace, name)):
                            await core.create_namespaced_secret(namespace, body)
                    else:
                        self._check_owner(existing, connection_id)
                        existing.data = {**(existing.data or {}), **encoded}
                        with kubernetes_errors(Request("update", "secrets", namespace, name)):
                            await core.replace_namespaced_secret(name, namespace, existing)
                    break
                except Conflict:
                    if attempt == WRITE_ATTEMPTS - 1:
                        raise
        refs = {k: _ref(namespace, name, k) for k in values}
        return {**stored, **refs}

    async def get(self, connection_id: str, stored: Stored) -> dict[str, str]:
        if not stored:
            return {}
        expected = self.secret_name(connection_id)
        by_secret: dict[tuple[str, str], list[str]] = {}
        for field, ref in stored.items():
            if not isinstance(ref, dict) or ref.get("secret") != expected or "namespace" not in ref:
                raise SecretUnavailable(
                    f"secret {field!r} of connection {connection_id} is not kept in its Kubernetes Secret"
                )
            by_secret.setdefault((str(ref["namespace"]), expected), []).append(field)
        values: dict[str, str] = {}
        async with self._core() as core:
            for (namespace, name), fields in by_secret.items():
                secret = await self._read(core, namespace, name)
                if secret is None:
                    raise SecretUnavailable(
                        f"Secret {name} of connection {connection_id} is missing from namespace {namespace}"
                    )
                self._check_owner(secret, connection_id)
                data = secret.data or {}
                for field in fields:
                    key = str(stored[field].get("key", field))
                    if key not in data:
                        raise SecretUnavailable(f"Secret {namespace}/{name} has no key {key!r}")
                    values[field] = base64.b64decode(data[key]).decode()
        return values

    async def remove(
        self, connection_id: str, stored: Stored, fields: Collection[str] | None = None
    ) -> Stored:
        gone = set(stored) if fields is None else set(fields) & set(stored)
        remaining = {k: v for k, v in stored.items() if k not in gone}
        namespace = await self.namespace()
        name = self.secret_name(connection_id)
        async with self._core() as core:
            for attempt in range(WRITE_ATTEMPTS):
                secret = await self._read(core, namespace, name)
                if secret is None:
                    return remaining
                self._check_owner(secret, connection_id)
                data = {k: v for k, v in (secret.data or {}).items() if k not in gone}
                try:
                    if fields is None or not data:
                        with kubernetes_errors(Request("delete", "secrets", namespace, name)):
                            await core.delete_namespaced_secret(
                                name,
                                namespace,
                                body=client.V1DeleteOptions(
                                    preconditions=client.V1Preconditions(
                                        resource_version=secret.metadata.resource_version
                                    )
                                ),
                            )
                    elif data != (secret.data or {}):
                        secret.data = data
                        with kubernetes_errors(Request("update", "secrets", namespace, name)):
                            await core.replace_namespaced_secret(name, namespace, secret)
                    return remaining
                except SecretUnavailable:
                    return remaining  # deleted meanwhile
                except Conflict:
                    if attempt == WRITE_ATTEMPTS - 1:
                        raise
        return remaining

    async def rotate(self, connection_id: str, stored: Stored) -> Stored | None:
        """Nothing to do: the API server seals Secrets with its own, rotatable keys."""
        return None

    def _manifest(self, connection_id: str, namespace: str, name: str, data: dict[str, str]) -> Any:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {MANAGED_BY[0]: MANAGED_BY[1], ROLE_LABEL: "connection-secrets"},
                "annotations": {CONNECTION_ANNOTATION: connection_id},
            },
            "data": data,
        }

    @staticmethod
    def _check_owner(secret: Any, connection_id: str) -> None:
        owner = (secret.metadata.annotations or {}).get(CONNECTION_ANNOTATION)
        if owner != connection_id:
            raise SecretUnavailable(
                f"Secret {secret.metadata.namespace}/{secret.metadata.name} belongs to connection "
                f"{owner or '(none)'}, not {connection_id}"
            )

    @staticmethod
    async def _read(core: client.CoreV1Api, namespace: str, name: str) -> Any:
        try:
            with kubernetes_errors(Request("get", "secrets", namespace, name)):
                return await core.read_namespaced_secret(name, namespace)
        except SecretUnavailable:
            return None

    @asynccontextmanager
    async def _core(self) -> AsyncIterator[client.CoreV1Api]:
        api = await connect(self.options)
        try:
            yield client.CoreV1Api(api)
        finally:
            await api.close()


async def connect(options: KubernetesSecretsOptions) -> client.ApiClient:
    """The API client: the ``kubeconfig`` option's, or the pod's service account. A client per
    operation: secrets are read when an engine is built, not per request, and nothing stays
    open between them."""
    configuration = await load_configuration(
        options.kubeconfig, options.kube_context, field=kubernetes_errors.config_field
    )
    return guarded_api_client(configuration)


def _ref(namespace: str, name: str, key: str) -> dict[str, str]:
    return {"store": "kubernetes", "namespace": namespace, "secret": name, "key": key}


def _read_text(path: str) -> str:
    with open(path) as handle:
        return handle.read()
