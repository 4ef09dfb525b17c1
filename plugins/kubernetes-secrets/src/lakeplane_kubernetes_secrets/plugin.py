"""Entry point of ``lakeplane-plugin-kubernetes-secrets``: registers the ``kubernetes`` secret store."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_kubernetes_secrets.store import KubernetesSecretStore


@hookimpl
def lakeplane_register_secret_stores(registry: Registry) -> None:
    registry.add(KubernetesSecretStore)
