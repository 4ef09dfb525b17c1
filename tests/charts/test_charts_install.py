"""The Helm charts installed into a real API server (the ``kube_cluster`` fixture).

For the default values and every good value set of test_charts.py, ``helm install``
must succeed with RBAC on and the default admission plugins, every object of the
release must then be stored, and each must also pass a server-side dry run with
strict field validation (an unknown or misplaced field is an error there, where a
plain create only warns). A SparkApplication CRD built from
schemas/sparkapplication-sparkoperator-v1beta2.json is installed first, so the
control-plane chart's Roles and the data plane's demo application meet a server that
knows the kind.

``helm upgrade`` with a changed config rolls every control-plane Deployment (a new
``checksum/config`` and a new ReplicaSet); ``helm uninstall`` leaves exactly the
PersistentVolumeClaims of the StatefulSets and the objects the charts mark
``helm.sh/resource-policy: keep``.

The cluster has no kubelet: kwok reports pods as running, so what is checked here is
what the API server and controllers accept and do, not that the images run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeplane.testing.kube import ApiError, KubeCluster, crd_from_json_schema, helm_binary

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
HERE = Path(__file__).resolve().parent
VALUES = HERE / "values"
NAMESPACE = "lakeplane"
RELEASES = {"lakeplane": "lakeplane", "dataplane": "dataplane"}
GOOD_SETS = sorted(p.name for p in VALUES.glob("*.yaml") if not p.name.startswith("bad-"))
#: (chart, values file or None for the defaults)
INSTALLS = [("dataplane", None), ("lakeplane", None)] + [(name.split("-", 1)[0], name) for name in GOOD_SETS]
KEEP = "helm.sh/resource-policy"

Manifest = dict[str, Any]


@pytest.fixture(scope="session")
def helm() -> str:
    return helm_binary(ROOT)


class Helm:
    def __init__(self, binary: str, cluster: KubeCluster, home: Path) -> None:
        self.binary = binary
        self.cluster = cluster
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "KUBECONFIG": str(cluster.admin_kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "NO_PROXY": "*",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result

    def install(self, chart: str, values: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["install", RELEASES[chart], str(CHARTS / chart), "--namespace", NAMESPACE]
        args += ["--create-namespace", "--timeout", "4m"]
        if values:
            args += ["--values", str(VALUES / values)]
        return self.run(*args, *extra)

    def manifest(self, release: str) -> list[Manifest]:
        text = self.run("get", "manifest", release, "--namespace", NAMESPACE).stdout
        return [doc for doc in yaml.safe_load_all(text) if doc]

    def uninstall(self, release: str) -> None:
        self.run("uninstall", release, "--namespace", NAMESPACE, "--wait", "--timeout", "3m")


@pytest.fixture(scope="module")
def sparkapplication_crd(kube_cluster: KubeCluster) -> Manifest:
    schema = json.loads((HERE / "schemas" / "sparkapplication-sparkoperator-v1beta2.json").read_text())
    (stored,) = kube_cluster.apply(crd_from_json_schema(schema, short_names=("sparkapp",)))
    return stored


@pytest.fixture(scope="module")
def helm_client(
    helm: str,
    kube_cluster: KubeCluster,
    sparkapplication_crd: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Helm:
    return Helm(helm, kube_cluster, tmp_path_factory.mktemp("helm"))


def _values(chart: str, values: str | None) -> dict[str, Any]:
    defaults: dict[str, Any] = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    chosen = yaml.safe_load((VALUES / values).read_text()) if values else {}
    spark = {**defaults["spark"], **(chosen.get("spark") or {})}
    return {**defaults, **chosen, "spark": spark}


def _workspace_namespaces(chart: str, values: str | None) -> list[str]:
    """The workspace namespaces the install expects to exist already (none if it makes them)."""
    spark = _values(chart, values)["spark"]
    if chart == "dataplane" and spark.get("createNamespaces", True):
        return []
    return list(spark["workspaceNamespaces"])


def _prepare(cluster: KubeCluster, chart: str, values: str | None) -> None:
    for namespace in _workspace_namespaces(chart, values):
        cluster.create_namespace(namespace, wait_service_account=False)


def _path(cluster: KubeCluster, obj: Manifest) -> str:
    meta = obj["metadata"]
    return cluster.resource_path(
        obj["apiVersion"], obj["kind"], meta.get("namespace") or NAMESPACE, meta["name"]
    )


def _strict_dry_run(cluster: KubeCluster, obj: Manifest) -> None:
    answer = cluster.request(
        "PATCH",
        _path(cluster, obj),
        params={"fieldManager": "chart-check", "force": "true", "fieldValidation": "Strict", "dryRun": "All"},
        content=json.dumps(obj),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert answer.status_code == 200, f"{obj['kind']}/{obj['metadata']['name']}: {answer.text[:600]}"


def _clean(cluster: KubeCluster) -> None:
    """Remove what an uninstall leaves on purpose, so that the next install starts afresh."""
    for pvc in cluster.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")["items"]:
        cluster.delete("v1", "PersistentVolumeClaim", pvc["metadata"]["name"], namespace=NAMESPACE)
    for secret in cluster.get(f"/api/v1/namespaces/{NAMESPACE}/secrets")["items"]:
        if (secret["metadata"].get("annotations") or {}).get(KEEP) == "keep":
            cluster.delete("v1", "Secret", secret["metadata"]["name"], namespace=NAMESPACE)
    workspaces = [
        ns["metadata"]["name"]
        for ns in cluster.get("/api/v1/namespaces")["items"]
        if ns["metadata"]["name"].startswith("lakeplane-ws-")
    ]
    for name in workspaces:
        cluster.delete("v1", "Namespace", name)
    _wait(
        lambda: all(cluster.request("GET", f"/api/v1/namespaces/{n}").status_code == 404 for n in workspaces),
        f"workspace namespaces {workspaces} not deleted",
        seconds=120,
    )


@pytest.fixture
def fresh(helm_client: Helm, kube_cluster: KubeCluster) -> Iterator[Helm]:
    yield helm_client
    listed = helm_client.run("list", "--namespace", NAMESPACE, "--short").stdout.split()
    for release in listed:
        helm_client.uninstall(release)
    _clean(kube_cluster)


@pytest.mark.parametrize(("chart", "values"), INSTALLS, ids=[f"{c}-{v or 'defaults'}" for c, v in INSTALLS])
def test_install_is_accepted(fresh: Helm, kube_cluster: KubeCluster, chart: str, values: str | None) -> None:
    _prepare(kube_cluster, chart, values)
    result = fresh.install(chart, values)
    assert "unknown field" not in result.stderr, result.stderr
    objects = fresh.manifest(RELEASES[chart])
    assert objects, "the release has no objects"
    for obj in objects:
        stored = kube_cluster.get(_path(kube_cluster, obj))
        assert stored["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASES[chart]
        _strict_dry_run(kube_cluster, obj)


def _deployments(cluster: KubeCluster, release: str) -> dict[str, Manifest]:
    found = cluster.get(
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
    )["items"]
    return {
        d["metadata"]["name"]: d
        for d in found
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == release
    }


def _checksum(deployment: Manifest) -> str:
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])


def _replica_sets(cluster: KubeCluster, deployment: str) -> set[str]:
    items = cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets")["items"]
    return {
        rs["metadata"]["name"]
        for rs in items
        if any(ref["name"] == deployment for ref in rs["metadata"].get("ownerReferences", []))
    }


def _wait(condition: Any, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


def test_upgrade_with_changed_config_rolls_every_deployment(fresh: Helm, kube_cluster: KubeCluster) -> None:
    _prepare(kube_cluster, "lakeplane", "lakeplane-minimal.yaml")
    fresh.install("lakeplane", "lakeplane-minimal.yaml")
    before = _deployments(kube_cluster, "lakeplane")
    assert set(before) == {"lakeplane-api", "lakeplane-worker", "lakeplane-scheduler"}
    for name in before:
        _wait(lambda name=name: len(_replica_sets(kube_cluster, name)) == 1, f"{name}: no ReplicaSet")
    first_sets = {name: _replica_sets(kube_cluster, name) for name in before}

    fresh.run(
        "upgrade", "lakeplane", str(CHARTS / "lakeplane"), "--namespace", NAMESPACE,
        "--values", str(VALUES / "lakeplane-minimal.yaml"),
        "--set", "server.publicUrl=https://lakeplane.changed.example", "--timeout", "4m",
    )  # fmt: skip
    after = _deployments(kube_cluster, "lakeplane")
    config = kube_cluster.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/lakeplane-config")
    assert 'public_url = "https://lakeplane.changed.example"' in config["data"]["lakeplane.toml"]
    for name, deployment in after.items():
        assert _checksum(deployment) != _checksum(before[name]), name
        assert deployment["metadata"]["generation"] > before[name]["metadata"]["generation"]
        _wait(
            lambda name=name: _replica_sets(kube_cluster, name) - first_sets[name],
            f"{name}: the upgrade made no new ReplicaSet",
        )

    unchanged = _deployments(kube_cluster, "lakeplane")
    fresh.run(
        "upgrade", "lakeplane", str(CHARTS / "lakeplane"), "--namespace", NAMESPACE,
        "--values", str(VALUES / "lakeplane-minimal.yaml"),
        "--set", "server.publicUrl=https://lakeplane.changed.example", "--timeout", "4m",
    )  # fmt: skip
    for name, deployment in _deployments(kube_cluster, "lakeplane").items():
        assert _checksum(deployment) == _checksum(unchanged[name]), f"{name} rolled without a change"


def _listable(cluster: KubeCluster) -> list[tuple[str, str, str, bool]]:
    """(api_version, kind, plural, namespaced) of every resource that can be listed."""
    out = []
    versions = ["v1"] + [
        group["preferredVersion"]["groupVersion"] for group in cluster.get("/apis")["groups"]
    ]
    for api_version in versions:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        for resource in cluster.get(prefix)["resources"]:
            if "/" in resource["name"] or "list" not in resource.get("verbs", []):
                continue
            if resource["kind"] in ("Event", "Binding", "ComponentStatus"):
                continue
            out.append((api_version, resource["kind"], resource["name"], resource["namespaced"]))
    return out


def _remaining(cluster: KubeCluster, releases: set[str]) -> set[tuple[str, str]]:
    """(kind, name) of every object in NAMESPACE or cluster-wide that belongs to ``releases``."""
    found = set()
    for api_version, kind, plural, namespaced in _listable(cluster):
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = f"{prefix}/namespaces/{NAMESPACE}/{plural}" if namespaced else f"{prefix}/{plural}"
        answer = cluster.request("GET", path)
        if answer.status_code != 200:
            continue
        for item in answer.json()["items"]:
            meta = item["metadata"]
            labels = meta.get("labels") or {}
            annotations = meta.get("annotations") or {}
            if (
                labels.get("app.kubernetes.io/instance") in releases
                or annotations.get("meta.helm.sh/release-name") in releases
            ):
                found.add((kind, meta["name"]))
    return found


def test_uninstall_leaves_only_volumes_and_kept_objects(fresh: Helm, kube_cluster: KubeCluster) -> None:
    fresh.install("dataplane", None)  # it makes the workspace namespaces the control plane needs
    fresh.install("lakeplane", None)
    objects = fresh.manifest("dataplane") + fresh.manifest("lakeplane")
    expected = {
        (obj["kind"], obj["metadata"]["name"])
        for obj in objects
        if (obj["metadata"].get("annotations") or {}).get(KEEP) == "keep"
    }
    for obj in objects:
        if obj["kind"] == "StatefulSet":
            replicas = obj["spec"].get("replicas", 1)
            for template in obj["spec"].get("volumeClaimTemplates", []):
                for ordinal in range(replicas):
                    name = f"{template['metadata']['name']}-{obj['metadata']['name']}-{ordinal}"
                    expected.add(("PersistentVolumeClaim", name))
    assert any(kind == "PersistentVolumeClaim" for kind, _ in expected), "the defaults make no volume"

    def claims() -> set[str]:
        items = kube_cluster.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")["items"]
        return {pvc["metadata"]["name"] for pvc in items}

    wanted_claims = {name for kind, name in expected if kind == "PersistentVolumeClaim"}
    _wait(lambda: wanted_claims <= claims(), f"StatefulSets made {claims()}, not {wanted_claims}")

    fresh.uninstall("lakeplane")
    fresh.uninstall("dataplane")
    releases = {"dataplane", "lakeplane"}
    deadline = time.monotonic() + 120
    while True:
        remaining = _remaining(kube_cluster, releases)
        if remaining == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert remaining == expected, (
        f"left behind: {sorted(remaining - expected)}; missing: {sorted(expected - remaining)}"
    )
    print("left after uninstall:", sorted(remaining))


def test_strict_dry_run_refuses_a_misplaced_field(helm_client: Helm, kube_cluster: KubeCluster) -> None:
    """The acceptance check itself fails on an object the server would not take as written."""
    kube_cluster.create_namespace(NAMESPACE, wait_service_account=False)
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "misplaced", "namespace": NAMESPACE},
        "data": {"a": "b"},
        "spec": {"replicas": 1},
    }
    with pytest.raises(AssertionError, match="spec: field not declared in schema"):
        _strict_dry_run(kube_cluster, bad)
    with pytest.raises(ApiError):
        kube_cluster.apply(bad)
