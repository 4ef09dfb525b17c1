"""Lakeplane secret store keeping connection secrets in Kubernetes Secrets, registered as ``kubernetes``."""

from lakeplane_kubernetes_secrets.store import KubernetesSecretsOptions, KubernetesSecretStore

__all__ = ["KubernetesSecretStore", "KubernetesSecretsOptions"]
