"""Every kubernetes-asyncio and aiohttp exception becomes a Lakeplane error here, and only here.

The table is :mod:`lakeplane.drivers.kubernetes`'s, with these errors of the store's own:

    ApiException 404                                SecretUnavailable
    ApiException 410, 429, 5xx, unreachable         UpstreamError
    ConfigException, unreadable kubeconfig          ConfigError naming secret_store.options.kubeconfig

No message holds a secret value: the API server names objects in its Status answers, never
their data.
"""

from __future__ import annotations

from lakeplane.drivers.kubernetes import KubernetesErrors
from lakeplane.errors import SecretUnavailable, UpstreamError

kubernetes_errors = KubernetesErrors(
    not_found=SecretUnavailable, unavailable=UpstreamError, config_field="secret_store.options.kubeconfig"
)
