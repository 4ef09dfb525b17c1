"""The Kubernetes test cluster of ``lakeplane.testing``: what plugin tests rely on.

Against the real API server of the ``kube_cluster`` fixture: version and readiness,
RBAC with ServiceAccount tokens from the TokenRequest API, default ServiceAccounts and
garbage collection from the controller manager, scheduling, the kwok node and the
driver Stages, and the one-line errors for unusable kubeconfigs.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakeplane.local import kube as local_kube
from lakeplane.testing.kube import ApiError, KubeCluster, KubeconfigError

pytestmark = pytest.mark.kube


def _pod(name: str, *, driver: bool = False, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"app": name}
    if driver:
        labels[local_kube.DRIVER_LABEL] = local_kube.DRIVER_LABEL_VALUE
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1"}]},
    }


def _phase(pod: dict[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase", ""))


def _as(cluster: KubeCluster, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.server,
        verify=ssl.create_default_context(cafile=str(cluster.ca_file)),
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=10,
    )


def test_api_server_is_the_built_version_and_ready(kube_cluster: KubeCluster) -> None:
    version = kube_cluster.get("/version")
    assert version["gitVersion"] == local_kube.kube_build.KUBERNETES_VERSION
    readyz = kube_cluster.request("GET", "/readyz", params={"verbose": "1"})
    assert readyz.status_code == 200, readyz.text
    assert base64.b64decode(kube_cluster.ca_data) == kube_cluster.ca_file.read_bytes()


def test_anonymous_requests_are_refused(kube_cluster: KubeCluster) -> None:
    verify = ssl.create_default_context(cafile=str(kube_cluster.ca_file))
    with httpx.Client(verify=verify, trust_env=False) as client:
        assert client.get(f"{kube_cluster.server}/api/v1/namespaces").status_code == 401


def test_kwok_node_is_ready_and_pods_are_scheduled_onto_it(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    node = kube_cluster.get(f"/api/v1/nodes/{local_kube.NODE_NAME}")
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    kube_cluster.apply(_pod("plain"), namespace=kube_namespace)
    pod = kube_cluster.wait_for(
        f"/api/v1/namespaces/{kube_namespace}/pods/plain",
        lambda p: _phase(p) == "Running",
        timeout=60,
    )
    assert pod["spec"]["nodeName"] == local_kube.NODE_NAME
    assert pod["spec"]["serviceAccountName"] == "default"


def test_service_account_token_is_bound_by_rbac(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    kube_cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "reader-reads-pods"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": kube_namespace}],
            },
        ],
        namespace=kube_namespace,
    )
    token = kube_cluster.service_account_token(kube_namespace, "reader", expiration_seconds=600)
    assert local_kube.token_expiry(token) is not None
    with _as(kube_cluster, token) as client:
        assert client.get(f"/api/v1/namespaces/{kube_namespace}/pods").status_code == 200
        assert client.get("/api/v1/pods").status_code == 403
        created = client.post(f"/api/v1/namespaces/{kube_namespace}/pods", json=_pod("nope"))
        assert created.status_code == 403
        assert 'cannot create resource "pods"' in created.json()["message"]
    kubeconfig = kube_cluster.service_account_kubeconfig(kube_namespace, "reader")
    assert local_kube.check_kubeconfig(kubeconfig) == f"system:serviceaccount:{kube_namespace}:reader"
    assert local_kube.read_kubeconfig(kubeconfig).namespace == kube_namespace


def test_garbage_collector_removes_owned_objects(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    (owner,) = kube_cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace=kube_namespace
    )
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    kube_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owned", "ownerReferences": [reference]},
        },
        namespace=kube_namespace,
    )
    kube_cluster.delete("v1", "ConfigMap", "owner", namespace=kube_namespace)
    deadline = time.monotonic() + 60
    path = f"/api/v1/namespaces/{kube_namespace}/configmaps/owned"
    while kube_cluster.request("GET", path).status_code != 404:
        assert time.monotonic() < deadline, "owned ConfigMap not collected"
        time.sleep(0.2)


def test_deployment_controller_makes_pods(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    template = _pod("web")
    kube_cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]},
            },
        },
        namespace=kube_namespace,
    )
    kube_cluster.wait_for(
        f"/apis/apps/v1/namespaces/{kube_namespace}/deployments/web",
        lambda d: d.get("status", {}).get("readyReplicas") == 2,
        timeout=90,
    )


@pytest.mark.parametrize(("outcome", "exit_code"), [("Succeeded", 0), ("Failed", 1)])
def test_driver_pods_run_and_end_as_annotated(
    kube_cluster: KubeCluster, kube_namespace: str, outcome: str, exit_code: int
) -> None:
    annotations = {
        local_kube.START_MS_ANNOTATION: "50",
        local_kube.FINISH_MS_ANNOTATION: "300",
        local_kube.OUTCOME_ANNOTATION: outcome,
    }
    kube_cluster.apply(_pod("driver", driver=True, annotations=annotations), namespace=kube_namespace)
    path = f"/api/v1/namespaces/{kube_namespace}/pods/driver"
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while True:
        pod = kube_cluster.get(path)
        if not seen or seen[-1] != _phase(pod):
            seen.append(_phase(pod))
        if _phase(pod) in ("Succeeded", "Failed"):
            break
        assert time.monotonic() < deadline, f"driver stuck in {seen}"
        time.sleep(0.02)
    assert seen[-1] == outcome
    assert "Running" in seen
    (status,) = pod["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == exit_code


def test_driver_kept_running_ends_when_told(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    annotations = {local_kube.START_MS_ANNOTATION: "0", local_kube.OUTCOME_ANNOTATION: "Running"}
    kube_cluster.apply(_pod("long", driver=True, annotations=annotations), namespace=kube_namespace)
    path = f"/api/v1/namespaces/{kube_namespace}/pods/long"
    kube_cluster.wait_for(path, lambda p: _phase(p) == "Running")
    time.sleep(1.5)  # longer than the default run time: it must still run
    assert _phase(kube_cluster.get(path)) == "Running"
    kube_cluster.finish_driver(kube_namespace, "long", "Failed")
    kube_cluster.wait_for(path, lambda p: _phase(p) == "Failed")


def test_deleted_driver_goes_away(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    annotations = {local_kube.OUTCOME_ANNOTATION: "Running"}
    kube_cluster.apply(_pod("gone", driver=True, annotations=annotations), namespace=kube_namespace)
    path = f"/api/v1/namespaces/{kube_namespace}/pods/gone"
    kube_cluster.wait_for(path, lambda p: _phase(p) == "Running")
    kube_cluster.delete("v1", "Pod", "gone", namespace=kube_namespace)
    deadline = time.monotonic() + 60
    while kube_cluster.request("GET", path).status_code != 404:
        assert time.monotonic() < deadline, "deleted driver pod still there"
        time.sleep(0.2)


def test_strict_field_validation_refuses_unknown_fields(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    bad = _pod("bad")
    bad["spec"]["containers"][0]["imagePolicy"] = "x"
    with pytest.raises(ApiError) as refused:
        kube_cluster.apply(bad, namespace=kube_namespace)
    assert "imagePolicy: field not declared in schema" in refused.value.message
    assert kube_cluster.request("GET", f"/api/v1/namespaces/{kube_namespace}/pods/bad").status_code == 404


def _kubeconfig(path: Path, cluster: KubeCluster, token: str) -> Path:
    return cluster.write_kubeconfig(path, token, user="someone")


def test_unusable_kubeconfigs_are_one_line_errors(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1_000_000_000}).encode()).rstrip(b"=").decode()
    expired = _kubeconfig(tmp_path / "expired", kube_cluster, f"{header}.{claims}.c2ln")
    wrong = _kubeconfig(tmp_path / "wrong", kube_cluster, "not-a-token")
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [\n  - name: x\n")
    empty = tmp_path / "empty"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    cases = {
        expired: "expired at 2001-09-09 01:46:40 UTC",
        wrong: "refused the token (401 Unauthorized)",
        garbage: "is not valid YAML",
        empty: "has no current-context",
        tmp_path / "missing": "cannot be read",
    }
    for path, expected in cases.items():
        with pytest.raises(KubeconfigError) as failed:
            local_kube.check_kubeconfig(path)
        assert expected in failed.value.detail
        assert "\n" not in failed.value.detail
    assert local_kube.check_kubeconfig(kube_cluster.admin_kubeconfig) == "lakeplane-admin"
