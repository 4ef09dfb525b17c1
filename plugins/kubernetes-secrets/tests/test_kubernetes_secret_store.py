"""The secret store contract on Kubernetes Secrets, against the real API server of ``kube_cluster``,
with a ServiceAccount token that holds only the Role the README asks for."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lakeplane.errors import BadCredentials, ConfigError, SecretUnavailable, UpstreamError
from lakeplane.local import kube as local_kube
from lakeplane.testing.contracts import SecretStoreContract, unreachable_url
from lakeplane.testing.kube import KubeCluster
from lakeplane_kubernetes_secrets import KubernetesSecretsOptions, KubernetesSecretStore

pytestmark = pytest.mark.kube

ACCOUNT = "lakeplane"
VERBS = ["get", "create", "update", "delete"]


def grant(cluster: KubeCluster, namespace: str, verbs: list[str], account: str = ACCOUNT) -> None:
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": f"{account}-secrets"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"{account}-secrets"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": f"{account}-secrets",
                },
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            },
        ],
        namespace=namespace,
    )


@pytest.fixture
def options(kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path) -> KubernetesSecretsOptions:
    grant(kube_cluster, kube_namespace, VERBS)
    kubeconfig = kube_cluster.service_account_kubeconfig(
        kube_namespace, ACCOUNT, tmp_path / "store.kubeconfig"
    )
    return KubernetesSecretsOptions(namespace=kube_namespace, kubeconfig=str(kubeconfig))


class TestKubernetesSecretStore(SecretStoreContract):
    @pytest.fixture
    def secret_store(self, options: KubernetesSecretsOptions) -> KubernetesSecretStore:
        return KubernetesSecretStore(options)

    @pytest.fixture
    def secret_store_next_key(self, secret_store: KubernetesSecretStore) -> KubernetesSecretStore:
        return secret_store  # the API server keeps and rotates the keys

    @pytest.fixture
    def secret_store_next_key_only(self, secret_store: KubernetesSecretStore) -> KubernetesSecretStore:
        return secret_store


async def test_the_values_live_in_one_secret_per_connection(
    options: KubernetesSecretsOptions, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    store = KubernetesSecretStore(options)
    stored = await store.put("conn_01ABC", {"password": "pw-0123456789", "token": "tk-0123456789"}, {})
    name = store.secret_name("conn_01ABC")
    assert {ref["secret"] for ref in stored.values()} == {name}
    assert "pw-0123456789" not in json.dumps(stored)
    secret: dict[str, Any] = kube_cluster.get(f"/api/v1/namespaces/{kube_namespace}/secrets/{name}")
    assert secret["metadata"]["annotations"]["lakeplane.dev/connection-id"] == "conn_01ABC"
    assert base64.b64decode(secret["data"]["password"]).decode() == "pw-0123456789"
    assert store.secret_name("conn_01abc") != name  # ids differing in case do not share a Secret
    await store.remove("conn_01ABC", stored)
    gone = kube_cluster.request("GET", f"/api/v1/namespaces/{kube_namespace}/secrets/{name}")
    assert gone.status_code == 404


async def test_a_secret_annotated_for_another_connection_is_not_read(
    options: KubernetesSecretsOptions, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    store = KubernetesSecretStore(options)
    name = store.secret_name("conn_X")
    kube_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "annotations": {"lakeplane.dev/connection-id": "conn_Y"}},
            "stringData": {"password": "planted"},
        },
        namespace=kube_namespace,
    )
    ref = {"store": "kubernetes", "namespace": kube_namespace, "secret": name, "key": "password"}
    with pytest.raises(SecretUnavailable, match="belongs to connection conn_Y"):
        await store.get("conn_X", {"password": ref})
    with pytest.raises(SecretUnavailable):
        await store.put("conn_X", {"password": "mine"}, {})


async def test_an_rbac_refusal_names_the_verb_secret_and_namespace(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    grant(kube_cluster, kube_namespace, ["create"], account="writer")
    kubeconfig = kube_cluster.service_account_kubeconfig(kube_namespace, "writer", tmp_path / "w.kubeconfig")
    store = KubernetesSecretStore(
        KubernetesSecretsOptions(namespace=kube_namespace, kubeconfig=str(kubeconfig))
    )
    with pytest.raises(BadCredentials) as refused:
        await store.put("conn_1", {"password": "pw-0123456789"}, {})
    detail = refused.value.detail
    assert f"get secrets/{store.secret_name('conn_1')} in namespace {kube_namespace}" in detail
    assert "403 Forbidden" in detail
    health = await store.health()
    assert not health.ok and "403" in health.checks[0].message


async def test_unreachable_and_misconfigured(
    options: KubernetesSecretsOptions, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    nowhere = tmp_path / "nowhere.kubeconfig"
    nowhere.write_text(
        local_kube.kubeconfig_text(unreachable_url("https"), kube_cluster.ca_data, "t", user="u")
    )
    store = KubernetesSecretStore(
        KubernetesSecretsOptions(namespace=options.namespace, kubeconfig=str(nowhere))
    )
    with pytest.raises(UpstreamError, match="unreachable"):
        await store.get(
            "conn_1", {"password": {"namespace": options.namespace, "secret": store.secret_name("conn_1")}}
        )
    missing = KubernetesSecretStore(
        KubernetesSecretsOptions(namespace="x", kubeconfig=str(tmp_path / "none"))
    )
    with pytest.raises(ConfigError, match="does not exist"):
        await missing.put("conn_1", {"password": "x"}, {})
    in_no_pod = KubernetesSecretStore(KubernetesSecretsOptions(kubeconfig=options.kubeconfig))
    with pytest.raises(ConfigError, match="namespace"):
        await in_no_pod.put("conn_1", {"password": "x"}, {})
