"""The Kubernetes objects of one Spark run, built as plain dicts (no I/O, no client).

A run is, in the workspace's namespace ``<namespace_prefix><workspace>``:

- the *main object*: a ``SparkApplication`` for the Spark Operator, or, without the
  operator, a driver ``Pod`` running ``spark-submit --master k8s://...`` in client mode
  (the executors it starts are owned by that pod and go with it);
- a ``Secret`` with the S3 keys and the catalog credential;
- a ``ConfigMap`` with the launcher and, when it came from the object store, the
  application's code.

Every object carries the ``lakeplane.dev/run-id`` label. Secrets reach the driver and
the executors only as ``secretKeyRef`` environment variables; no manifest here holds
a secret value except the Secret itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lakeplane.interfaces import Submission
from lakeplane_spark.conf import catalog_conf
from lakeplane_spark.jars import coordinates
from lakeplane_spark.params import SparkParams
from lakeplane_spark.spec import SparkBatchSpec, memory_bytes

RUN_ID_LABEL = "lakeplane.dev/run-id"
ATTEMPT_LABEL = "lakeplane.dev/attempt"
WORKSPACE_LABEL = "lakeplane.dev/workspace"
ROLE_LABEL = "lakeplane.dev/role"
MANAGED_BY = ("app.kubernetes.io/managed-by", "lakeplane")
SPARK_OPERATOR_GROUP = "sparkoperator.k8s.io"
SPARK_OPERATOR_VERSION = "v1beta2"

#: Where the run's ConfigMap is mounted in the driver.
MOUNT_PATH = "/opt/lakeplane"
SPARK_SUBMIT = "/opt/spark/bin/spark-submit"
#: The uid of the ``spark`` user in the Apache Spark images.
SPARK_UID = 185
#: Extra pod memory for the Python worker and JVM overhead (Spark's default for Python jobs).
MEMORY_OVERHEAD_FACTOR = 0.4
#: A finished SparkApplication (and what it owns) is deleted this long after the end.
FINISHED_TTL_S = 3 * 24 * 3600

#: Environment variable -> key in the run's Secret.
ENV_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name, not a value
ENV_CATALOG_CREDENTIAL = "LAKEPLANE_CATALOG_CREDENTIAL"


@dataclass(frozen=True)
class RunNames:
    namespace: str
    #: The main object's name; the Secret and ConfigMap are ``<name>-secrets`` / ``<name>-app``.
    name: str

    @property
    def driver_pod(self) -> str:
        return f"{self.name}-driver"

    @property
    def secret(self) -> str:
        return f"{self.name}-secrets"

    @property
    def configmap(self) -> str:
        return f"{self.name}-app"

    @property
    def tombstone(self) -> str:
        """A ConfigMap left behind by ``cancel``: the run was stopped, not lost."""
        return f"{self.name}-cancelled"


def dns_label(text: str) -> str:
    """``text`` as a DNS label: a workspace slug or run id passes unchanged but for case and ``_``."""
    return re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")


def run_names(params: SparkParams, submission: Submission) -> RunNames:
    name = f"lp-{dns_label(submission.run_id)}-a{submission.attempt}"[:50].rstrip(
        "-"
    )  # room for "-cancelled"
    namespace = f"{params.namespace_prefix}{dns_label(submission.workspace)}"[:63].rstrip("-")
    return RunNames(namespace=namespace, name=name)


def run_labels(submission: Submission) -> dict[str, str]:
    return {
        MANAGED_BY[0]: MANAGED_BY[1],
        RUN_ID_LABEL: submission.run_id,
        ATTEMPT_LABEL: str(submission.attempt),
        WORKSPACE_LABEL: submission.workspace,
    }


def _metadata(name: str, names: RunNames, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": names.namespace, "labels": dict(labels)}


def secret_manifest(params: SparkParams, names: RunNames, labels: dict[str, str]) -> dict[str, Any]:
    data = {ENV_ACCESS_KEY: params.s3_access_key_id, ENV_SECRET_KEY: params.s3_secret_access_key}
    if params.catalog_credential:
        data[ENV_CATALOG_CREDENTIAL] = params.catalog_credential
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(names.secret, names, labels),
        "type": "Opaque",
        "stringData": data,
    }


def launcher_source() -> str:
    return resources.files("lakeplane_spark.kubernetes").joinpath("launcher.py").read_text()


def configmap_manifest(names: RunNames, labels: dict[str, str], app_source: bytes | None) -> dict[str, Any]:
    data = {"launcher.py": launcher_source()}
    if app_source is not None:
        data["app.py"] = app_source.decode()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(names.configmap, names, labels),
        "data": data,
    }


def tombstone_manifest(names: RunNames, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(names.tombstone, names, {**labels, ROLE_LABEL: "tombstone"}),
        "data": {"reason": "stopped on request"},
    }


def app_path(spec: SparkBatchSpec) -> str:
    """The application inside the driver: the ConfigMap's copy, or the image's file."""
    if spec.application.startswith("s3://"):
        return f"{MOUNT_PATH}/app.py"
    return spec.application.removeprefix("local://")


def secret_conf_env(params: SparkParams) -> dict[str, str]:
    """Spark conf key -> environment variable the launcher reads it from."""
    if not params.catalog_credential:
        return {}
    return {f"spark.sql.catalog.{params.catalog_name}.credential": ENV_CATALOG_CREDENTIAL}


def secret_env(params: SparkParams, names: RunNames) -> list[dict[str, Any]]:
    """The secret environment variables, each a reference into the run's Secret."""
    variables = [ENV_ACCESS_KEY, ENV_SECRET_KEY]
    if params.catalog_credential:
        variables.append(ENV_CATALOG_CREDENTIAL)
    return [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": names.secret, "key": var}}} for var in variables
    ]


def plain_env(params: SparkParams, submission: Submission) -> list[dict[str, Any]]:
    return [
        {"name": "AWS_REGION", "value": params.s3_region},
        {"name": "LAKEPLANE_RUN_ID", "value": submission.run_id},
        {
            "name": "LAKEPLANE_PARAMETERS",
            "value": json.dumps(submission.parameters, default=str, sort_keys=True),
        },
        {"name": "LAKEPLANE_SECRET_CONF", "value": json.dumps(secret_conf_env(params), sort_keys=True)},
    ]


def job_conf(params: SparkParams, spec: SparkBatchSpec, labels: dict[str, str]) -> dict[str, str]:
    """Spark conf common to both kinds of run: the job's, then the platform's on top."""
    conf = {
        **spec.conf,
        "spark.jars.ivy": "/tmp/.ivy2",  # noqa: S108 - inside the driver container
        "spark.kubernetes.executor.deleteOnTermination": "true",
        "spark.executorEnv.AWS_REGION": params.s3_region,
        **catalog_conf(params),
    }
    return dict(sorted(conf.items()))


def packages(spec: SparkBatchSpec) -> list[str]:
    return [*coordinates(), *spec.packages]


def _pod_memory(size: str) -> str:
    return f"{int(memory_bytes(size) * (1 + MEMORY_OVERHEAD_FACTOR)) >> 20}Mi"


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": SPARK_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _volume(names: RunNames) -> dict[str, Any]:
    return {"name": "lakeplane-app", "configMap": {"name": names.configmap}}


def _volume_mount() -> dict[str, Any]:
    return {"name": "lakeplane-app", "mountPath": MOUNT_PATH, "readOnly": True}


def driver_pod_manifest(params: SparkParams, submission: Submission, spec: SparkBatchSpec) -> dict[str, Any]:
    """A pod running the driver itself (client mode); it starts the executors as its own pods."""
    names = run_names(params, submission)
    labels = run_labels(submission)
    r = spec.resources
    conf = {
        **job_conf(params, spec, labels),
        "spark.kubernetes.namespace": names.namespace,
        "spark.kubernetes.container.image": params.image,
        "spark.kubernetes.container.image.pullPolicy": params.image_pull_policy,
        "spark.kubernetes.authenticate.driver.serviceAccountName": params.service_account,
        # Executors are owned by the driver pod (deleted with it) and reach it at its IP.
        "spark.kubernetes.driver.pod.name": "$(POD_NAME)",
        "spark.driver.host": "$(POD_IP)",
        "spark.driver.bindAddress": "0.0.0.0",  # noqa: S104 - the pod IP, for its executors
        "spark.executor.instances": str(r.executor_instances),
        "spark.executor.cores": str(r.executor_cores),
        "spark.executor.memory": r.executor_memory,
        "spark.kubernetes.executor.podNamePrefix": names.name,
        **{f"spark.kubernetes.executor.label.{k}": v for k, v in labels.items()},
        **{
            f"spark.kubernetes.executor.secretKeyRef.{var}": f"{names.secret}:{var}"
            for var in (ENV_ACCESS_KEY, ENV_SECRET_KEY)
        },
    }
    args = [
        "--master",
        "k8s://https://kubernetes.default.svc",
        "--deploy-mode",
        "client",
        "--name",
        names.name,
        "--driver-memory",
        r.driver_memory,
        "--packages",
        ",".join(packages(spec)),
    ]
    for key, value in sorted(conf.items()):
        args += ["--conf", f"{key}={value}"]
    args += [f"{MOUNT_PATH}/launcher.py", app_path(spec), *spec.args]
    field_env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    metadata = _metadata(names.driver_pod, names, {**labels, ROLE_LABEL: "driver"})
    if params.driver_annotations:
        metadata["annotations"] = dict(params.driver_annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "serviceAccountName": params.service_account,
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "spark-driver",
                    "image": params.image,
                    "imagePullPolicy": params.image_pull_policy,
                    "command": [SPARK_SUBMIT],
                    "args": args,
                    "env": [*field_env, *plain_env(params, submission), *secret_env(params, names)],
                    "resources": {
                        "requests": {"cpu": str(r.driver_cores), "memory": _pod_memory(r.driver_memory)},
                        "limits": {"memory": _pod_memory(r.driver_memory)},
                    },
                    "securityContext": _container_security(),
                    "volumeMounts": [_volume_mount()],
                }
            ],
            "volumes": [_volume(names)],
        },
    }


def spark_application_manifest(
    params: SparkParams, submission: Submission, spec: SparkBatchSpec
) -> dict[str, Any]:
    """A SparkApplication (``sparkoperator.k8s.io/v1beta2``) the Spark Operator runs in cluster mode."""
    names = run_names(params, submission)
    labels = run_labels(submission)
    r = spec.resources
    env = [*plain_env(params, submission), *secret_env(params, names)]
    pod_common = {
        "labels": labels,
        "env": env,
        "securityContext": _container_security(),
        "volumeMounts": [_volume_mount()],
    }
    return {
        "apiVersion": f"{SPARK_OPERATOR_GROUP}/{SPARK_OPERATOR_VERSION}",
        "kind": "SparkApplication",
        "metadata": _metadata(names.name, names, labels),
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "sparkVersion": params.spark_version,
            "image": params.image,
            "imagePullPolicy": params.image_pull_policy,
            "mainApplicationFile": f"local://{MOUNT_PATH}/launcher.py",
            "arguments": [app_path(spec), *spec.args],
            "sparkConf": job_conf(params, spec, labels),
            "deps": {"packages": packages(spec)},
            "restartPolicy": {"type": "Never"},
            "timeToLiveSeconds": FINISHED_TTL_S,
            "volumes": [_volume(names)],
            "driver": {
                **pod_common,
                "labels": {**labels, ROLE_LABEL: "driver"},
                **({"annotations": dict(params.driver_annotations)} if params.driver_annotations else {}),
                "cores": r.driver_cores,
                "memory": r.driver_memory,
                "serviceAccount": params.service_account,
            },
            "executor": {
                **pod_common,
                "labels": {**labels, ROLE_LABEL: "executor"},
                "cores": r.executor_cores,
                "memory": r.executor_memory,
                "instances": r.executor_instances,
                "deleteOnTermination": True,
            },
        },
    }


def owned_by(manifest: dict[str, Any], owner: dict[str, Any], uid: str) -> dict[str, Any]:
    """``manifest`` with an owner reference, so it is deleted with ``owner``."""
    reference = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": uid,
        "blockOwnerDeletion": False,
    }
    return {**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [reference]}}


@dataclass(frozen=True)
class RunManifests:
    names: RunNames
    #: ``"sparkapplication"`` or ``"pod"``.
    kind: str
    main: dict[str, Any]
    secret: dict[str, Any]
    configmap: dict[str, Any]

    def all(self) -> list[dict[str, Any]]:
        return [self.main, self.secret, self.configmap]


def build(
    params: SparkParams,
    submission: Submission,
    spec: SparkBatchSpec,
    app_source: bytes | None,
    use_operator: bool,
) -> RunManifests:
    names = run_names(params, submission)
    labels = run_labels(submission)
    main = (
        spark_application_manifest(params, submission, spec)
        if use_operator
        else driver_pod_manifest(params, submission, spec)
    )
    return RunManifests(
        names=names,
        kind="sparkapplication" if use_operator else "pod",
        main=main,
        secret=secret_manifest(params, names, labels),
        configmap=configmap_manifest(names, labels, app_source),
    )
