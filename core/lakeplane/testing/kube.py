"""A real Kubernetes API server for tests, once per session, as a pytest plugin.

``kube_cluster`` (session scope) is a :class:`~lakeplane.local.kube.KubeCluster` that is
running: etcd, kube-apiserver (RBAC on, the default admission plugins, server-side field
validation, token authentication, service-account keys generated at start),
kube-controller-manager (default ServiceAccounts, tokens, garbage collection,
Deployments), kube-scheduler and kwok with one fake Ready node, all on free
127.0.0.1 ports, in a temporary directory removed at the end of the session. The binaries
are built from the Go module proxy into ``~/.cache/lakeplane/kube`` on first use (from a
cold Go cache about 15 minutes on an idle 2-core machine, 48 measured on a loaded one; a
warm cache starts the cluster in about 20 s). As soon as collection
shows a test that needs the cluster (it uses ``kube_cluster`` or ``kube_namespace``, or
is marked ``kube``), the build and start begin in the background.

What the fixture gives (all synchronous, safe to call from async tests):

``server``
    ``https://127.0.0.1:<port>``.
``ca_file`` / ``ca_data``
    The CA that signed the API server's certificate: a path, and base64 PEM as in a
    kubeconfig's ``certificate-authority-data``.
``admin_token`` / ``admin_kubeconfig``
    A bearer token in group ``system:masters`` and a kubeconfig file using it
    (``helm --kubeconfig``, ``kubernetes_asyncio.config.load_kube_config``).
``service_account_token(namespace, name, *, expiration_seconds=3600, audiences=())``
    A bound token from the TokenRequest API, for RBAC tests with what a chart grants.
``service_account_kubeconfig(namespace, name, path=None, *, expiration_seconds=3600)``
    A kubeconfig file for that ServiceAccount, its namespace as the default.
``write_kubeconfig(path, token, *, user, namespace=None)``
    A kubeconfig for any token.
``apply(manifests, *, namespace=None)``
    Server-side apply of YAML text, a mapping or mappings (``fieldValidation=Strict``);
    returns the stored objects and waits for CRDs to be Established. Refusals raise
    :class:`~lakeplane.local.kube.ApiError` (``http_status``, ``reason``, ``message``).
``get(path)``, ``request(method, path, **httpx_kwargs)``, ``delete(api_version, kind, name, namespace=)``,
``resource_path(api_version, kind, namespace, name=None)``, ``wait_for(path, predicate, timeout=30)``,
``create_namespace(name)``
    Admin access to the REST API.
``finish_driver(namespace, pod, outcome="Succeeded", after_ms=0)``
    End a Spark driver pod as a kubelet would report it.

Spark driver pods (label ``lakeplane.dev/role=driver``) go Pending, Running after the
pod's annotation ``kwok.lakeplane.dev/start-ms`` (default 200 ms), then ``Succeeded``
after ``kwok.lakeplane.dev/finish-ms`` (default 1000 ms). Per test, the annotation
``kwok.lakeplane.dev/outcome`` chooses ``Succeeded``, ``Failed`` or ``Running`` (stays
Running until :meth:`finish_driver` or a patch of the annotation). Other pods follow
kwok's stock ``pod/general`` Stages (Running, Jobs' pods complete).

:func:`crd_from_json_schema` turns a JSON schema of a custom resource (as in the
project's ``tests/charts/schemas/``) into a CustomResourceDefinition whose
``openAPIV3Schema`` is that schema made structural, ready for ``apply``.

``kube_namespace`` (function scope) is a fresh namespace with its default ServiceAccount,
deleted after the test.

A cluster that cannot start fails the test with one line naming the problem (a build
that failed, with its log; a process that exited, with its last log line).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeplane.local.kube import ApiError, KubeCluster, KubeconfigError, KubeError

__all__ = [
    "ApiError",
    "KubeCluster",
    "KubeError",
    "KubeconfigError",
    "crd_from_json_schema",
    "helm_binary",
    "kube_cluster",
    "kube_namespace",
    "worker_rbac",
]

_FIXTURES = ("kube_cluster", "kube_namespace")

#: Keys of JSON Schema that an OpenAPI v3 structural schema of a CRD does not take.
_DROPPED = {"$schema", "$id", "title", "$comment", "examples"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _structural(node: Any) -> Any:
    """One JSON schema node as a structural OpenAPI v3 schema node."""
    if not isinstance(node, Mapping):
        return node
    if "$ref" in node:
        # A Kubernetes type (Container, Volume, ObjectMeta...): the API server checks those
        # where it owns them; inside a custom resource it is kept as given.
        out: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if "description" in node:
            out["description"] = node["description"]
        return out
    out = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {name: _structural(child) for name, child in value.items()}
        elif key == "items":
            out["items"] = _structural(value)
        elif key == "additionalProperties":
            if isinstance(value, Mapping):
                out["additionalProperties"] = _structural(value)
            elif value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            # false: a structural schema prunes unknown fields (and strict field
            # validation refuses them), so it is left out.
        else:
            out[key] = value
    if "type" not in out:
        if "enum" in out:
            out["type"] = _json_type(out["enum"][0])
        elif "properties" in out or "additionalProperties" in out:
            out["type"] = "object"
        elif "items" in out:
            out["type"] = "array"
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def helm_binary(root: Path) -> str:
    """The helm that chart tests run: ``$LAKEPLANE_HELM``, else the one the repository's
    ``root/scripts/ensure-helm`` fetches (and prints last)."""
    explicit = os.environ.get("LAKEPLANE_HELM")
    if explicit:
        return explicit
    built = subprocess.run(
        [str(root / "scripts" / "ensure-helm")], check=True, capture_output=True, text=True
    )
    return built.stdout.strip().splitlines()[-1]


def worker_rbac(helm: str, chart: Path, control: str, namespace: str, prefix: str) -> list[dict[str, Any]]:
    """The ServiceAccount, Role and RoleBinding the ``chart`` renders for a worker in the
    ``control`` namespace that runs Spark in the workspace namespace ``namespace``."""
    rendered = subprocess.run(
        [
            helm,
            "template",
            "lakeplane",
            str(chart),
            "--namespace",
            control,
            "--set",
            f"spark.workspaceNamespaces={{{namespace}}}",
            "--set",
            f"spark.namespacePrefix={prefix}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    kinds = {"ServiceAccount", "Role", "RoleBinding"}
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc and doc["kind"] in kinds]


def crd_from_json_schema(
    schema: Mapping[str, Any], *, plural: str | None = None, short_names: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A CustomResourceDefinition serving one version, from the JSON schema of its objects.

    The group, version and kind come from the schema's ``apiVersion`` and ``kind``
    constants (or single-value enums). ``$ref`` to Kubernetes types becomes an object
    kept as given; ``const`` an enum; ``additionalProperties: false`` is dropped (the
    API server prunes, and with strict field validation refuses, unknown fields). The
    resource is namespaced with a ``status`` subresource. A group under ``k8s.io`` gets
    the ``api-approved.kubernetes.io: unapproved, ...`` annotation protected groups need.
    """
    props = schema["properties"]

    def constant(name: str) -> str:
        node = props[name]
        return str(node["const"] if "const" in node else node["enum"][0])

    api_version, kind = constant("apiVersion"), constant("kind")
    group, _, version = api_version.partition("/")
    plural = plural or kind.lower() + "s"
    body = _structural({k: v for k, v in schema.items() if k != "properties"})
    body["properties"] = {
        name: _structural(child)
        for name, child in props.items()
        if name not in ("apiVersion", "kind", "metadata")
    }
    body["properties"].setdefault("status", {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    body["required"] = [name for name in schema.get("required", []) if name in body["properties"]]
    if not body["required"]:
        del body["required"]
    body.pop("x-kubernetes-preserve-unknown-fields", None)
    body["type"] = "object"
    names: dict[str, Any] = {
        "plural": plural,
        "singular": kind.lower(),
        "kind": kind,
        "listKind": f"{kind}List",
    }
    if short_names:
        names["shortNames"] = list(short_names)
    annotations: dict[str, str] = {}
    if group.endswith((".k8s.io", ".kubernetes.io")) or group in ("k8s.io", "kubernetes.io"):
        # Groups under k8s.io are protected; the annotation states this CRD is not a reviewed API.
        annotations["api-approved.kubernetes.io"] = "unapproved, a copy of a third-party API for tests"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "annotations": annotations},
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": body},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


class _Cluster:
    """The session's cluster, started once in a worker thread and stopped at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakeplane-kube")
        self._future: Future[KubeCluster] | None = None
        self._cluster: KubeCluster | None = None
        self._root: Path | None = None

    def begin(self) -> Future[KubeCluster]:
        with self._lock:
            if self._future is None:
                self._future = self._pool.submit(self._start)
            return self._future

    def _start(self) -> KubeCluster:
        self._root = Path(tempfile.mkdtemp(prefix="lakeplane-kube-"))
        cluster = KubeCluster(self._root / "cluster")
        self._cluster = cluster
        asyncio.run(cluster.start())
        return cluster

    def get(self) -> KubeCluster:
        return self.begin().result()

    def close(self) -> None:
        with self._lock:
            cluster, self._cluster, self._future = self._cluster, None, None
        if cluster is not None:
            with contextlib.suppress(Exception):
                asyncio.run(cluster.stop())
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


_cluster = _Cluster()
atexit.register(_cluster.close)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kube: needs the real Kubernetes API server (built on first use)")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build and start the cluster in the background now if any selected test needs it."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        names = getattr(item, "fixturenames", ())
        if any(name in names for name in _FIXTURES) or item.get_closest_marker("kube"):
            _cluster.begin()
            return


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _cluster.close()


@pytest.fixture(scope="session")
def kube_cluster() -> KubeCluster:
    try:
        return _cluster.get()
    except KubeError as exc:
        pytest.fail(f"Kubernetes test cluster: {exc.detail}", pytrace=False)


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    kube_cluster.create_namespace(name)
    yield name
    with contextlib.suppress(KubeError):
        kube_cluster.delete("v1", "Namespace", name)
