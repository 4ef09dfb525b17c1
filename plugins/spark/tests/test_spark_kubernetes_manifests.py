"""The Kubernetes objects of a run, checked offline.

Pods, Secrets and ConfigMaps against the Kubernetes OpenAPI schemas
(``kubernetes-validate``), the SparkApplication against the subset of the Spark
Operator's schema in ``schemas/``, and all of them against the golden files in
``golden/``: set ``LAKEPLANE_REGENERATE_GOLDEN=1`` to rewrite those after a
deliberate change, and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import msgspec
import pytest
import yaml
from _spark_testing import in_cluster_params

from lakeplane.errors import ConfigError
from lakeplane.interfaces import CheckStatus, Identifier, Submission
from lakeplane_spark import SparkBatchSpec, SparkEngine, SparkOptions
from lakeplane_spark.kubernetes import manifests
from lakeplane_spark.kubernetes.backend import KubernetesBackend
from lakeplane_spark.spec import decode_spec

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
KUBERNETES_VERSION = "1.33"
REGENERATE = os.environ.get("LAKEPLANE_REGENERATE_GOLDEN") == "1"

S3_SECRET = "s3-secret-value-0123456789"
CATALOG_SECRET = "catalog-secret-value-9876543210"
PARAMS = in_cluster_params(S3_SECRET, CATALOG_SECRET)
OPTIONS = SparkOptions(workspace_namespaces=["lakeplane-ws-demo"])
SPEC = decode_spec(
    {
        "application": "s3://jobs/ingest_meter_readings.py",
        "args": ["s3://raw/meter-readings/2026-01.csv", "lake.energy.meter_readings"],
        "conf": {"spark.sql.shuffle.partitions": "16"},
        "resources": {
            "driver_memory": "2g",
            "executor_memory": "4g",
            "executor_instances": 3,
            "executor_cores": 2,
        },
    }
)
SUBMISSION = Submission(
    run_id="run_01JDQX3K7ZP4M2V8N6T0R5W9YA",
    attempt=1,
    workspace="demo",
    job_type="spark_batch",
    spec=SPEC,
    parameters={"month": "2026-01"},
)
APP_SOURCE = b"print('ingest')\n"


def build(use_operator: bool, spec: SparkBatchSpec = SPEC) -> manifests.RunManifests:
    return manifests.build(PARAMS, SUBMISSION, spec, APP_SOURCE, use_operator)


def spark_application_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((HERE / "schemas" / "sparkapplication-v1beta2.json").read_text())
    return schema


@pytest.mark.parametrize("use_operator", [False, True], ids=["pod", "sparkapplication"])
def test_core_objects_match_the_kubernetes_schemas(use_operator: bool) -> None:
    run = build(use_operator)
    objects = run.all() if not use_operator else [run.secret, run.configmap]
    for manifest in objects:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_spark_application_matches_the_operator_schema() -> None:
    jsonschema.validate(build(True).main, spark_application_schema())
    # Its driver and executor env entries are Kubernetes EnvVars: check them with the real schema too.
    spec = build(True).main["spec"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe"},
        "spec": {
            "containers": [
                {
                    "name": role,
                    "image": "x",
                    "env": spec[role]["env"],
                    "volumeMounts": spec[role]["volumeMounts"],
                }
                for role in ("driver", "executor")
            ],
            "volumes": spec["volumes"],
        },
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_the_schema_subset_catches_mistakes() -> None:
    app = build(True).main
    broken = json.loads(json.dumps(app))
    broken["spec"]["driver"]["memmory"] = "1g"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, spark_application_schema())
    del app["spec"]["sparkVersion"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(app, spark_application_schema())


@pytest.mark.parametrize("use_operator", [False, True], ids=["pod", "sparkapplication"])
def test_secret_values_appear_only_in_the_secret(use_operator: bool) -> None:
    run = build(use_operator)
    for manifest in (run.main, run.configmap):
        text = json.dumps(manifest)
        assert S3_SECRET not in text
        assert CATALOG_SECRET not in text
    assert run.secret["stringData"]["AWS_SECRET_ACCESS_KEY"] == S3_SECRET
    assert run.secret["stringData"]["LAKEPLANE_CATALOG_CREDENTIAL"] == PARAMS.catalog_credential


@pytest.mark.parametrize("use_operator", [False, True], ids=["pod", "sparkapplication"])
def test_secret_env_vars_are_secret_references(use_operator: bool) -> None:
    main = build(use_operator).main
    envs = (
        [main["spec"]["driver"]["env"], main["spec"]["executor"]["env"]]
        if use_operator
        else [main["spec"]["containers"][0]["env"]]
    )
    for env in envs:
        by_name = {e["name"]: e for e in env}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert by_name[name]["valueFrom"]["secretKeyRef"] == {
                "name": "lp-run-01jdqx3k7zp4m2v8n6t0r5w9ya-a1-secrets",
                "key": name,
            }
            assert "value" not in by_name[name]


@pytest.mark.parametrize("use_operator", [False, True], ids=["pod", "sparkapplication"])
def test_every_object_is_labelled_with_its_run(use_operator: bool) -> None:
    run = build(use_operator)
    for manifest in run.all():
        assert manifest["metadata"]["labels"][manifests.RUN_ID_LABEL] == SUBMISSION.run_id
        assert manifest["metadata"]["namespace"] == "lakeplane-ws-demo"
    if use_operator:
        for role in ("driver", "executor"):
            assert run.main["spec"][role]["labels"][manifests.RUN_ID_LABEL] == SUBMISSION.run_id
    else:
        args = run.main["spec"]["containers"][0]["args"]
        assert f"spark.kubernetes.executor.label.{manifests.RUN_ID_LABEL}={SUBMISSION.run_id}" in args


def test_the_driver_pod_runs_spark_submit_against_the_api_server() -> None:
    container = build(False).main["spec"]["containers"][0]
    assert container["command"] == ["/opt/spark/bin/spark-submit"]
    assert container["args"][:2] == ["--master", "k8s://https://kubernetes.default.svc"]
    assert build(False).main["spec"]["serviceAccountName"] == "spark-driver"
    assert container["args"][-3:] == ["/opt/lakeplane/app.py", *SPEC.args]


def test_an_image_path_application_is_used_in_place() -> None:
    spec = decode_spec({"application": "local:///opt/jobs/nightly.py"})
    assert build(True, spec).main["spec"]["arguments"] == ["/opt/jobs/nightly.py"]


def test_owner_references_tie_the_secret_to_the_main_object() -> None:
    run = build(False)
    owned = manifests.owned_by(run.secret, run.main, "uid-1")
    assert owned["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    kubernetes_validate.validate(owned, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("use_operator", [False, True], ids=["pod", "sparkapplication"])
def test_golden(use_operator: bool) -> None:
    run = build(use_operator)
    path = GOLDEN / f"{run.kind}.yaml"
    rendered = yaml.safe_dump_all(run.all(), sort_keys=True, width=120)
    if REGENERATE or not path.exists():
        path.write_text(rendered)
        if not REGENERATE:
            pytest.fail(f"{path.name} was missing and has been written: review it and commit it")
    assert rendered == path.read_text(), (
        f"{path.name} changed: rerun with LAKEPLANE_REGENERATE_GOLDEN=1 if intended"
    )


async def test_a_missing_or_broken_kubeconfig_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-kubeconfig"
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    in_image = msgspec.structs.replace(SUBMISSION, spec=decode_spec({"application": "local:///opt/job.py"}))
    for path, problem in ((missing, "does not exist"), (broken, "current-context")):
        params = msgspec.structs.replace(PARAMS, kubeconfig=str(path))
        async with SparkEngine(params, OPTIONS) as engine:
            health = await engine.health()
            assert not health.ok
            assert health.checks[0].name == "kubernetes"
            assert str(path) in health.checks[0].message
            with pytest.raises(ConfigError) as refused:
                await engine.submit(in_image)
            assert problem in refused.value.detail
            assert str(path) in refused.value.detail
            assert "\n" not in str(refused.value)


async def test_drivers_go_only_to_the_listed_workspace_namespaces(tmp_path: Path) -> None:
    """The namespaces come from the engine's options (the chart's list, where it grants a Role);
    a connection uses those with its prefix, and a workspace outside them is refused before
    anything reaches the cluster (there is none here: reaching out would be EngineUnavailable)."""
    params = msgspec.structs.replace(PARAMS, kubeconfig=str(tmp_path / "no-kubeconfig"))
    options = SparkOptions(workspace_namespaces=["lakeplane-ws-demo", "other-ws-demo"])
    in_image = msgspec.structs.replace(SUBMISSION, spec=decode_spec({"application": "local:///opt/job.py"}))
    async with SparkEngine(params, options) as engine:
        assert isinstance(engine.backend, KubernetesBackend)
        assert engine.backend.namespaces == ["lakeplane-ws-demo"]
        checks = {c.name: c for c in (await engine.health()).checks}
        assert checks["workspace namespaces"].status is CheckStatus.OK
        assert checks["workspace namespaces"].message == "lakeplane-ws-demo"
        elsewhere = msgspec.structs.replace(in_image, workspace="finance")
        with pytest.raises(ConfigError, match="lakeplane-ws-finance, which is not one of"):
            await engine.submit(elsewhere)
    async with SparkEngine(params) as unconfigured:
        checks = {c.name: c for c in (await unconfigured.health()).checks}
        assert checks["workspace namespaces"].status is CheckStatus.FAILED
        assert await unconfigured.list_active() == []
        with pytest.raises(ConfigError, match=r"\(none\)"):
            await unconfigured.submit(in_image)


def test_workspace_namespaces_must_be_namespace_names() -> None:
    assert msgspec.convert({}, SparkOptions).workspace_namespaces == []
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"workspace_namespaces": ["Lakeplane_WS"]}, SparkOptions)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"namespaces": ["lakeplane-ws-demo"]}, SparkOptions)


def test_an_identifier_parameter_reaches_the_job_as_a_plain_string() -> None:
    submission = msgspec.structs.replace(
        SUBMISSION, parameters={"month": "2026-01", "table": Identifier("lake.energy.meter_readings")}
    )
    (value,) = (
        e["value"] for e in manifests.plain_env(PARAMS, submission) if e["name"] == "LAKEPLANE_PARAMETERS"
    )
    assert value == '{"month": "2026-01", "table": "lake.energy.meter_readings"}'
