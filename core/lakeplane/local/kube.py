# Long module: the cluster's processes, certificates, kubeconfigs and REST helpers start and stop together.
"""A real Kubernetes control plane on loopback: etcd, API server, controllers, scheduler, kwok.

:class:`KubeCluster` runs the binaries of :mod:`lakeplane.local.kube_build` (built from
the Go module proxy on first use) in one directory of its own:

- ``etcd`` on a free client and peer port;
- ``kube-apiserver`` with RBAC (``--authorization-mode=Node,RBAC``), the default
  admission plugins and server-side field validation, a ``--token-auth-file`` holding a
  random admin token (group ``system:masters``), TLS from a CA generated at start and
  service-account signing keys generated at start;
- ``kube-controller-manager`` (default ServiceAccounts, the token and root-CA publishers,
  garbage collection, Deployments/ReplicaSets, namespace deletion);
- ``kube-scheduler``;
- ``kwok`` driving one fake Ready node (``kwok-node-0``, no taints, room for 110 pods) with
  kwok's stock ``node/fast``, ``node/heartbeat`` and ``pod/general`` Stages read from the
  Go module cache, plus the project's own Stages for Spark driver pods
  (:data:`DRIVER_STAGES`).

Spark driver pods (label ``lakeplane.dev/role=driver``) are moved like a kubelet would:
Pending, then Running after ``kwok.lakeplane.dev/start-ms`` (default 200), then the phase
named by ``kwok.lakeplane.dev/outcome`` (``Succeeded``, the default, or ``Failed``) after
``kwok.lakeplane.dev/finish-ms`` (default 1000) more. The outcome ``Running`` keeps the
driver running until the annotation is changed (:meth:`KubeCluster.finish_driver`).
The stock pod Stages leave driver pods alone, except for deletion.

Everything binds to 127.0.0.1. The cluster's credentials and endpoints are written to
``state.json`` in its directory, so another process (``lakeplane local kube status``)
can find and check it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from lakeplane.local import kube_build, processes
from lakeplane.local.component import Component, NotHealthy, Progress, no_progress
from lakeplane.local.errors import ComponentFailed, LocalStackError
from lakeplane.local.ports import LOOPBACK, free_ports

#: The fake node kwok manages.
NODE_NAME = "kwok-node-0"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
DRIVER_LABEL = "lakeplane.dev/role"
DRIVER_LABEL_VALUE = "driver"
START_MS_ANNOTATION = "kwok.lakeplane.dev/start-ms"
FINISH_MS_ANNOTATION = "kwok.lakeplane.dev/finish-ms"
OUTCOME_ANNOTATION = "kwok.lakeplane.dev/outcome"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"
FIELD_MANAGER = "lakeplane"


class KubeError(LocalStackError, code="kube"):
    """The test cluster could not start or refused a request; one line naming the problem."""


class KubeconfigError(KubeError, code="kubeconfig"):
    """A kubeconfig cannot be used: unreadable, incomplete, or its credentials are refused."""


class ApiError(KubeError, code="kube-api"):
    """The API server answered a request with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"API server answered {status} {reason}: {message}")
        self.http_status = status
        self.reason = reason
        self.message = message


# --- Stages for Spark driver pods ----------------------------------------------------

_NOT_DELETED = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}


def _driver_selector(*expressions: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "matchLabels": {DRIVER_LABEL: DRIVER_LABEL_VALUE},
        "matchExpressions": [_NOT_DELETED, *expressions],
    }


def _finish_stage(
    name: str, phase: str, exit_code: int, reason: str, outcomes: list[str] | None
) -> dict[str, Any]:
    outcome: dict[str, Any] = {"key": f'.metadata.annotations["{OUTCOME_ANNOTATION}"]'}
    outcome.update({"operator": "In", "values": outcomes} if outcomes else {"operator": "DoesNotExist"})
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": _driver_selector(
                {"key": ".status.phase", "operator": "In", "values": ["Running"]}, outcome
            ),
            "delay": {
                "durationMilliseconds": 1000,
                "durationFrom": {"expressionFrom": f'.metadata.annotations["{FINISH_MS_ANNOTATION}"]'},
            },
            "next": {
                "event": {
                    "type": "Normal" if phase == "Succeeded" else "Warning",
                    "reason": reason,
                    "message": phase,
                },
                "statusTemplate": (
                    "{{ $now := Now }}\n"
                    "conditions:\n"
                    '- lastTransitionTime: {{ $now | Quote }}\n  status: "False"\n  reason: PodCompleted\n  type: Ready\n'
                    '- lastTransitionTime: {{ $now | Quote }}\n  status: "False"\n  reason: PodCompleted\n'
                    "  type: ContainersReady\n"
                    "containerStatuses:\n"
                    "{{ range .spec.containers }}\n"
                    "- image: {{ .image | Quote }}\n  name: {{ .name | Quote }}\n  ready: false\n"
                    "  restartCount: 0\n  started: false\n  state:\n    terminated:\n"
                    f"      exitCode: {exit_code}\n      reason: {reason}\n"
                    "      finishedAt: {{ $now | Quote }}\n      startedAt: {{ $now | Quote }}\n"
                    "{{ end }}\n"
                    f"phase: {phase}\n"
                ),
            },
        },
    }


#: The project's Stages for driver pods: Pending -> Running -> Succeeded or Failed.
DRIVER_STAGES: list[dict[str, Any]] = [
    {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "lakeplane-driver-start"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": _driver_selector(
                {"key": ".spec.nodeName", "operator": "Exists"},
                {"key": ".status.podIP", "operator": "DoesNotExist"},
            ),
            "delay": {
                "durationMilliseconds": 200,
                "durationFrom": {"expressionFrom": f'.metadata.annotations["{START_MS_ANNOTATION}"]'},
            },
            "next": {
                "event": {"type": "Normal", "reason": "Started", "message": "Started container"},
                "statusTemplate": (
                    "{{ $now := Now }}\n"
                    "conditions:\n"
                    '- lastTransitionTime: {{ $now | Quote }}\n  status: "True"\n  type: Initialized\n'
                    '- lastTransitionTime: {{ $now | Quote }}\n  status: "True"\n  type: Ready\n'
                    '- lastTransitionTime: {{ $now | Quote }}\n  status: "True"\n  type: ContainersReady\n'
                    "containerStatuses:\n"
                    "{{ range .spec.containers }}\n"
                    "- image: {{ .image | Quote }}\n  name: {{ .name | Quote }}\n  ready: true\n"
                    "  restartCount: 0\n  started: true\n  state:\n    running:\n      startedAt: {{ $now | Quote }}\n"
                    "{{ end }}\n"
                    "hostIP: {{ NodeIPWith .spec.nodeName | Quote }}\n"
                    'podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) '
                    '( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}\n'
                    "startTime: {{ $now | Quote }}\n"
                    "phase: Running\n"
                ),
            },
        },
    },
    _finish_stage("lakeplane-driver-succeed", "Succeeded", 0, "Completed", ["Succeeded"]),
    _finish_stage("lakeplane-driver-succeed-default", "Succeeded", 0, "Completed", None),
    _finish_stage("lakeplane-driver-fail", "Failed", 1, "Error", ["Failed"]),
]

#: Stock pod Stages that still apply to driver pods (deletion works the same for every pod).
_STAGES_FOR_ALL_PODS = {"pod-delete"}


def _stock_stages() -> str:
    """kwok's stock Stages, the pod ones narrowed so that they leave driver pods alone."""
    import yaml  # the YAML of kwok's Stage files; PyYAML comes with litestar[standard]

    documents: list[Any] = []
    for path in kube_build.kwok_stage_files():
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict) or document.get("kind") != "Stage":
                continue
            spec = document["spec"]
            if (
                spec["resourceRef"]["kind"] == "Pod"
                and document["metadata"]["name"] not in _STAGES_FOR_ALL_PODS
            ):
                selector = spec.setdefault("selector", {})
                selector.setdefault("matchExpressions", []).append(
                    {
                        "key": f'.metadata.labels["{DRIVER_LABEL}"]',
                        "operator": "NotIn",
                        "values": [DRIVER_LABEL_VALUE],
                    }
                )
            documents.append(document)
    return str(yaml.safe_dump_all(documents + DRIVER_STAGES, sort_keys=False))


# --- certificates and keys -----------------------------------------------------------


def _write_pki(directory: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1 and the in-cluster names, and the SA key pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    not_after = now + datetime.timedelta(days=365)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lakeplane-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(name)
        for name in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
    ]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in (LOOPBACK, "10.96.0.1")]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def key_pem(key: Any) -> str:
        return str(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
        )

    pem = serialization.Encoding.PEM
    processes.write_private(directory / "ca.crt", ca_cert.public_bytes(pem).decode(), 0o644)
    processes.write_private(directory / "apiserver.crt", server_cert.public_bytes(pem).decode(), 0o644)
    processes.write_private(directory / "apiserver.key", key_pem(server_key))
    processes.write_private(directory / "sa.key", key_pem(sa_key))
    public = sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    processes.write_private(directory / "sa.pub", public.decode(), 0o644)


# --- kubeconfig ----------------------------------------------------------------------


def kubeconfig_text(server: str, ca_data: str, token: str, *, user: str, namespace: str | None = None) -> str:
    """A kubeconfig with one cluster, one token user and one context (JSON, which is YAML)."""
    context: dict[str, Any] = {"cluster": "lakeplane", "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "lakeplane", "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": context}],
        "current-context": user,
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"


@dataclass(frozen=True)
class KubeconfigCredentials:
    """What a kubeconfig's current context points at."""

    path: Path
    server: str
    ca_data: bytes | None
    token: str | None
    namespace: str | None
    insecure: bool


def _load_mapping(path: Path) -> Any:
    text = path.read_text()
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with litestar[standard]
        raise KubeconfigError(f"kubeconfig {path} is not JSON and PyYAML is not installed") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}") from None


def read_kubeconfig(path: Path) -> KubeconfigCredentials:
    """The current context of ``path``; :class:`KubeconfigError` names what is missing or wrong."""
    try:
        raw = _load_mapping(path)
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(raw, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")

    def named(section: str, name: Any) -> dict[str, Any]:
        for entry in raw.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                body = entry.get(section[:-1])
                if isinstance(body, dict):
                    return body
        raise KubeconfigError(f"kubeconfig {path} has no {section[:-1]} named {name!r}")

    current = raw.get("current-context")
    if not current:
        raise KubeconfigError(f"kubeconfig {path} has no current-context")
    context = named("contexts", current)
    cluster = named("clusters", context.get("cluster"))
    user = named("users", context.get("user"))
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"kubeconfig {path}: cluster {context.get('cluster')!r} has no https:// server")
    ca_data: bytes | None = None
    if cluster.get("certificate-authority-data"):
        try:
            ca_data = base64.b64decode(cluster["certificate-authority-data"], validate=True)
        except ValueError:
            raise KubeconfigError(f"kubeconfig {path}: certificate-authority-data is not base64") from None
    elif cluster.get("certificate-authority"):
        ca_path = Path(cluster["certificate-authority"])
        if not ca_path.is_absolute():
            ca_path = path.parent / ca_path
        try:
            ca_data = ca_path.read_bytes()
        except OSError as exc:
            raise KubeconfigError(
                f"kubeconfig {path}: certificate-authority {ca_path}: {exc.strerror}"
            ) from None
    token = user.get("token")
    if token is None and user.get("tokenFile"):
        try:
            token = Path(user["tokenFile"]).read_text().strip()
        except OSError as exc:
            raise KubeconfigError(
                f"kubeconfig {path}: tokenFile {user['tokenFile']}: {exc.strerror}"
            ) from None
    if token is not None:
        expiry = token_expiry(str(token))
        if expiry is not None and expiry <= time.time():
            when = datetime.datetime.fromtimestamp(expiry, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            raise KubeconfigError(
                f"kubeconfig {path}: the token of user {context.get('user')!r} expired at {when}"
            )
    return KubeconfigCredentials(
        path=path,
        server=server.rstrip("/"),
        ca_data=ca_data,
        token=None if token is None else str(token),
        namespace=context.get("namespace"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT bearer token (a ServiceAccount token), if it has one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def _ssl_context(ca_data: bytes | None, insecure: bool = False) -> ssl.SSLContext | bool:
    if insecure:
        return False
    if ca_data is None:
        return True
    return ssl.create_default_context(cadata=ca_data.decode())


def check_kubeconfig(path: Path, *, timeout: float = 5.0) -> str:
    """Who the kubeconfig's credentials are, per the API server; one-line errors otherwise."""
    creds = read_kubeconfig(path)
    headers = {"Authorization": f"Bearer {creds.token}"} if creds.token else {}
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        with httpx.Client(
            verify=_ssl_context(creds.ca_data, creds.insecure), timeout=timeout, trust_env=False
        ) as c:
            answer = c.post(
                f"{creds.server}/apis/authentication.k8s.io/v1/selfsubjectreviews",
                json=review,
                headers=headers,
            )
    except ssl.SSLError as exc:
        raise KubeconfigError(f"kubeconfig {path}: TLS with {creds.server} failed: {exc.reason}") from None
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise KubeconfigError(
                f"kubeconfig {path}: the certificate of {creds.server} is not signed by the kubeconfig's CA"
            ) from None
        raise KubeconfigError(f"kubeconfig {path}: the API server {creds.server} is unreachable") from None
    except httpx.HTTPError as exc:
        raise KubeconfigError(f"kubeconfig {path}: {creds.server}: {type(exc).__name__}") from None
    if answer.status_code == 401:
        raise KubeconfigError(
            f"kubeconfig {path}: the API server {creds.server} refused the token (401 Unauthorized)"
        )
    if answer.status_code >= 400:
        raise KubeconfigError(f"kubeconfig {path}: {creds.server} answered {answer.status_code}")
    username = answer.json().get("status", {}).get("userInfo", {}).get("username", "?")
    return str(username)


# --- the processes -------------------------------------------------------------------


class _Process(Component):
    start_timeout: ClassVar[float] = 90.0
    stop_timeout: ClassVar[float] = 15.0

    def __init__(self, cluster: KubeCluster, binary: Path) -> None:
        super().__init__(cluster.home / self.name)
        self.cluster = cluster
        self.binary = binary

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.upper().endswith("_PROXY")}
        env["NO_PROXY"] = "*"
        return env


class EtcdComponent(_Process):
    name = "etcd"

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.cluster.ports['etcd']}"

    def ports(self) -> dict[str, int]:
        return {"etcd": self.cluster.ports["etcd"], "etcd-peer": self.cluster.ports["etcd-peer"]}

    def command(self) -> list[str]:
        client, peer = self.endpoint, f"http://{LOOPBACK}:{self.cluster.ports['etcd-peer']}"
        return [
            str(self.binary),
            "--name=default",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=2147483648",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    async def probe(self) -> None:
        async with httpx.AsyncClient(timeout=self.probe_timeout, trust_env=False) as client:
            answer = await client.get(f"{self.endpoint}/health")
        if answer.status_code != 200 or answer.json().get("health") != "true":
            raise NotHealthy(f"etcd /health answered {answer.status_code}: {answer.text[:120]}")


class ApiServerComponent(_Process):
    name = "kube-apiserver"

    @property
    def endpoint(self) -> str:
        return self.cluster.server

    def ports(self) -> dict[str, int]:
        return {"apiserver": self.cluster.ports["apiserver"]}

    def command(self) -> list[str]:
        pki = self.cluster.pki
        return [
            str(self.binary),
            f"--etcd-servers=http://{LOOPBACK}:{self.cluster.ports['etcd']}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.cluster.ports['apiserver']}",
            f"--cert-dir={self.home / 'certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--anonymous-auth=false",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
        ]

    async def probe(self) -> None:
        answer = await self.cluster.arequest("GET", "/readyz")
        if answer.status_code != 200:
            raise NotHealthy(f"/readyz answered {answer.status_code}: {answer.text[-200:]}")


class _HealthzComponent(_Process):
    port_name: ClassVar[str]

    @property
    def endpoint(self) -> str:
        return f"https://{LOOPBACK}:{self.cluster.ports[self.port_name]}"

    def ports(self) -> dict[str, int]:
        return {self.port_name: self.cluster.ports[self.port_name]}

    def common_flags(self) -> list[str]:
        kubeconfig = self.cluster.pki / f"{self.name}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={self.cluster.ports[self.port_name]}",
            f"--tls-cert-file={self.cluster.pki / 'apiserver.crt'}",
            f"--tls-private-key-file={self.cluster.pki / 'apiserver.key'}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    async def probe(self) -> None:
        verify = ssl.create_default_context(cafile=str(self.cluster.ca_file))
        async with httpx.AsyncClient(timeout=self.probe_timeout, verify=verify, trust_env=False) as client:
            answer = await client.get(f"{self.endpoint}/healthz")
        if answer.status_code != 200:
            raise NotHealthy(f"/healthz answered {answer.status_code}: {answer.text[-200:]}")


class ControllerManagerComponent(_HealthzComponent):
    name = "kube-controller-manager"
    port_name = "controller-manager"

    def command(self) -> list[str]:
        pki = self.cluster.pki
        return [
            str(self.binary),
            *self.common_flags(),
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--concurrent-gc-syncs=5",
        ]


class SchedulerComponent(_HealthzComponent):
    name = "kube-scheduler"
    port_name = "scheduler"

    def command(self) -> list[str]:
        return [str(self.binary), *self.common_flags()]


class KwokComponent(_Process):
    name = "kwok"

    @property
    def endpoint(self) -> str:
        return f"node {NODE_NAME}"

    def ports(self) -> dict[str, int]:
        return {"kwok": self.cluster.ports["kwok"]}

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.cluster.pki / 'kwok.kubeconfig'}",
            f"--config={self.home / 'stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
            "--cidr=10.0.0.1/24",
            "--node-ip=10.0.0.1",
            f"--server-address={LOOPBACK}:{self.cluster.ports['kwok']}",
        ]

    async def prepare(self, progress: Progress) -> None:
        processes.write_private(self.home / "stages.yaml", _stock_stages(), 0o644)

    async def probe(self) -> None:
        answer = await self.cluster.arequest("GET", f"/api/v1/nodes/{NODE_NAME}")
        if answer.status_code != 200:
            raise NotHealthy(f"node {NODE_NAME}: {answer.status_code}")
        conditions = answer.json().get("status", {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            raise NotHealthy(f"node {NODE_NAME} is not Ready yet")


_FAKE_NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": NODE_NAME,
        "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {
            "kubernetes.io/hostname": NODE_NAME,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/role": "agent",
            "type": "kwok",
        },
    },
    "spec": {},
    "status": {
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"},
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"},
        "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
    },
}


# --- the cluster ---------------------------------------------------------------------

_PORT_NAMES = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")


class KubeCluster:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok under ``home``.

    Attributes once started (or loaded from ``state.json``): ``server``, ``ca_file``,
    ``ca_data`` (base64, as in a kubeconfig), ``admin_token``, ``admin_kubeconfig``.
    """

    def __init__(self, home: Path, *, progress: Progress = no_progress) -> None:
        self.home = home
        self.pki = home / "pki"
        self.progress = progress
        self.ports: dict[str, int] = {}
        self.admin_token = ""
        self._client: httpx.Client | None = None
        self._discovery: dict[tuple[str, str], tuple[str, bool]] = {}
        self._load_state()

    # state -----------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.home / "state.json"

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['apiserver']}"

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def ca_data(self) -> str:
        return base64.b64encode(self.ca_file.read_bytes()).decode()

    @property
    def admin_kubeconfig(self) -> Path:
        return self.home / "admin.kubeconfig"

    def _load_state(self) -> None:
        try:
            state = json.loads(self.state_path.read_text())
            self.ports = {name: int(state["ports"][name]) for name in _PORT_NAMES}
            self.admin_token = str(state["admin_token"])
        except (OSError, ValueError, KeyError, TypeError):
            self.ports = {}

    def components(self) -> list[_Process]:
        paths = {
            binary: component.directory() / binary
            for component in kube_build.COMPONENTS
            for binary in component.binaries
        }
        return [
            EtcdComponent(self, paths["etcd"]),
            ApiServerComponent(self, paths["kube-apiserver"]),
            ControllerManagerComponent(self, paths["kube-controller-manager"]),
            SchedulerComponent(self, paths["kube-scheduler"]),
            KwokComponent(self, paths["kwok"]),
        ]

    def is_running(self) -> bool:
        return bool(self.ports) and any(component.is_running() for component in self.components())

    # start / stop -------------------------------------------------------------------

    def _prepare(self) -> None:
        """Fresh ports, PKI and tokens for a cluster that is not running."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.ports = dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES)), strict=True))
        self.admin_token = secrets.token_urlsafe(32)
        _write_pki(self.pki)
        tokens = {
            "kube-controller-manager": secrets.token_urlsafe(32),
            "kube-scheduler": secrets.token_urlsafe(32),
            "kwok": secrets.token_urlsafe(32),
        }
        lines = [
            f'{self.admin_token},lakeplane-admin,lakeplane-admin,"system:masters"',
            f"{tokens['kube-controller-manager']},system:kube-controller-manager,system:kube-controller-manager",
            f"{tokens['kube-scheduler']},system:kube-scheduler,system:kube-scheduler",
            f'{tokens["kwok"]},kwok,kwok,"system:masters"',
        ]
        processes.write_private(self.pki / "tokens.csv", "\n".join(lines) + "\n")
        for name, token in tokens.items():
            processes.write_private(
                self.pki / f"{name}.kubeconfig", kubeconfig_text(self.server, self.ca_data, token, user=name)
            )
        processes.write_private(
            self.admin_kubeconfig,
            kubeconfig_text(
                self.server, self.ca_data, self.admin_token, user="lakeplane-admin", namespace="default"
            ),
        )
        state = {"ports": self.ports, "admin_token": self.admin_token, "server": self.server}
        processes.write_private(self.state_path, json.dumps(state, indent=2) + "\n")

    async def start(self) -> float:
        """Build what is missing, then start every process not yet running; seconds taken."""
        began = time.monotonic()
        try:
            await asyncio.to_thread(kube_build.ensure_all, progress=self.progress is not no_progress)
        except kube_build.KubeBuildError as exc:
            raise KubeError(str(exc)) from None
        if not self.is_running():
            self._prepare()
        elif not self.admin_token:
            raise KubeError(
                f"the cluster in {self.home} runs but its state.json is unreadable; stop it first"
            )
        for component in self.components():
            if isinstance(component, KwokComponent) and not component.is_running():
                self._ensure_node()
            try:
                await component.start(self.progress)
            except ComponentFailed as exc:
                raise KubeError(str(exc)) from None
        await self._check_admin()
        await self._wait_default_service_account("default")
        return time.monotonic() - began

    async def stop(self) -> bool:
        stopped = False
        for component in reversed(self.components()):
            stopped = await component.stop() or stopped
        self.close()
        return stopped

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _check_admin(self) -> None:
        answer = await self.arequest("GET", "/api")
        if answer.status_code == 401:
            raise KubeError(f"the API server at {self.server} refused the admin token of {self.state_path}")

    async def _wait_default_service_account(self, namespace: str, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            answer = await self.arequest("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
            if answer.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise KubeError(f"no default ServiceAccount in {namespace!r} after {seconds:.0f}s")
            await asyncio.sleep(0.2)

    def _ensure_node(self) -> None:
        answer = self.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        if answer.status_code == 404:
            self._check(self.request("POST", "/api/v1/nodes", json=_FAKE_NODE))

    # requests ---------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.server,
                verify=ssl.create_default_context(cafile=str(self.ca_file)),
                headers={"Authorization": f"Bearer {self.admin_token}"},
                timeout=30.0,
                trust_env=False,
            )
        return self._client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request as the admin (``system:masters``)."""
        return self.client.request(method, path, **kwargs)

    async def arequest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=self.server,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10.0,
            trust_env=False,
        ) as client:
            return await client.request(method, path, **kwargs)

    @staticmethod
    def _check(answer: httpx.Response) -> dict[str, Any]:
        if answer.status_code >= 400:
            try:
                body = answer.json()
                message, reason = str(body.get("message", "")), str(body.get("reason", ""))
            except ValueError:
                message, reason = answer.text[:300], ""
            raise ApiError(answer.status_code, reason or answer.reason_phrase, message)
        if not answer.content:
            return {}
        result: dict[str, Any] = answer.json()
        return result

    def get(self, path: str) -> dict[str, Any]:
        return self._check(self.request("GET", path))

    # resources ---------------------------------------------------------------------

    def resource_path(
        self, api_version: str, kind: str, namespace: str | None, name: str | None = None
    ) -> str:
        """The REST path of ``kind`` in ``api_version`` (found by discovery, cached)."""
        key = (api_version, kind)
        if key not in self._discovery:
            prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for resource in self.get(prefix).get("resources", []):
                if "/" not in resource["name"]:
                    self._discovery[(api_version, resource["kind"])] = (
                        resource["name"],
                        resource["namespaced"],
                    )
            if key not in self._discovery:
                raise KubeError(f"the API server does not serve {kind} in {api_version}")
        plural, namespaced = self._discovery[key]
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = (
            f"{prefix}/namespaces/{namespace or 'default'}/{plural}" if namespaced else f"{prefix}/{plural}"
        )
        return f"{path}/{name}" if name else path

    def apply(
        self,
        manifests: str | Mapping[str, Any] | Iterable[Mapping[str, Any]],
        *,
        namespace: str | None = None,
    ) -> list[dict[str, Any]]:
        """Server-side apply each object (YAML text or mappings); the objects as stored.

        A CustomResourceDefinition is waited for until it is Established, so objects of
        its kind can follow in the same call.
        """
        documents: list[Mapping[str, Any]]
        if isinstance(manifests, str):
            import yaml

            documents = [doc for doc in yaml.safe_load_all(manifests) if doc]
        elif isinstance(manifests, Mapping):
            documents = [manifests]
        else:
            documents = list(manifests)
        applied = []
        for document in documents:
            if document.get("kind", "").endswith("List") and "items" in document:
                applied += self.apply(document["items"], namespace=namespace)
                continue
            meta = document.get("metadata") or {}
            path = self.resource_path(
                document["apiVersion"], document["kind"], meta.get("namespace") or namespace, meta["name"]
            )
            stored = self._check(
                self.request(
                    "PATCH",
                    path,
                    params={"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"},
                    content=json.dumps(document),
                    headers={"Content-Type": "application/apply-patch+yaml"},
                )
            )
            if document["kind"] == "CustomResourceDefinition":
                self._wait_established(meta["name"])
                self._discovery.clear()
            applied.append(stored)
        return applied

    def _wait_established(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            crd = self.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = crd.get("status", {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return
            time.sleep(0.1)
        raise KubeError(f"CustomResourceDefinition {name} not Established after {timeout:.0f}s")

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> bool:
        """Delete with background propagation; False if it did not exist."""
        answer = self.request(
            "DELETE",
            self.resource_path(api_version, kind, namespace, name),
            json={"propagationPolicy": "Background"},
        )
        if answer.status_code == 404:
            return False
        self._check(answer)
        return True

    def create_namespace(self, name: str, *, wait_service_account: bool = True) -> None:
        """Create ``name`` if missing; by default wait for its ``default`` ServiceAccount."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        if wait_service_account:
            deadline = time.monotonic() + 60
            path = f"/api/v1/namespaces/{name}/serviceaccounts/default"
            while self.request("GET", path).status_code != 200:
                if time.monotonic() > deadline:
                    raise KubeError(f"no default ServiceAccount in namespace {name!r} after 60s")
                time.sleep(0.1)

    # credentials --------------------------------------------------------------------

    def service_account_token(
        self,
        namespace: str,
        name: str,
        *,
        expiration_seconds: int = 3600,
        audiences: Sequence[str] = (),
    ) -> str:
        """A bound token for ServiceAccount ``namespace/name`` from the TokenRequest API."""
        spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
        if audiences:
            spec["audiences"] = list(audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        answer = self._check(
            self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", json=body)
        )
        return str(answer["status"]["token"])

    def write_kubeconfig(self, path: Path, token: str, *, user: str, namespace: str | None = None) -> Path:
        processes.write_private(
            path, kubeconfig_text(self.server, self.ca_data, token, user=user, namespace=namespace)
        )
        return path

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path | None = None, *, expiration_seconds: int = 3600
    ) -> Path:
        """A kubeconfig whose user is ServiceAccount ``namespace/name`` (namespace as default)."""
        token = self.service_account_token(namespace, name, expiration_seconds=expiration_seconds)
        target = path or self.home / "kubeconfigs" / f"{namespace}.{name}.kubeconfig"
        return self.write_kubeconfig(target, token, user=f"{namespace}-{name}", namespace=namespace)

    # driver pods ------------------------------------------------------------------

    def finish_driver(
        self, namespace: str, pod: str, outcome: str = "Succeeded", *, after_ms: int = 0
    ) -> None:
        """Let a driver pod end (``Succeeded`` or ``Failed``) ``after_ms`` from now."""
        if outcome not in ("Succeeded", "Failed", "Running"):
            raise ValueError(f"outcome must be Succeeded, Failed or Running, not {outcome!r}")
        patch = {
            "metadata": {"annotations": {OUTCOME_ANNOTATION: outcome, FINISH_MS_ANNOTATION: str(after_ms)}}
        }
        self._check(
            self.request(
                "PATCH",
                f"/api/v1/namespaces/{namespace}/pods/{pod}",
                json=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )
        )

    def wait_for(
        self, path: str, predicate: Any, *, timeout: float = 30.0, interval: float = 0.1
    ) -> dict[str, Any]:
        """Poll ``GET path`` until ``predicate(object)`` holds; the object then."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while True:
            answer = self.request("GET", path)
            if answer.status_code == 200:
                last = answer.json()
                if predicate(last):
                    return last
            if time.monotonic() > deadline:
                raise KubeError(f"{path}: condition not met after {timeout:.0f}s (last: {str(last)[:300]})")
            time.sleep(interval)

    async def status(self) -> list[Any]:
        return [await component.status() for component in self.components()]


@contextlib.asynccontextmanager
async def started(home: Path, *, progress: Progress = no_progress) -> Any:
    cluster = KubeCluster(home, progress=progress)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()
