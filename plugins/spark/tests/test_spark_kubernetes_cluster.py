# Long module: the tests share one cluster, the chart's RBAC and the workspace set-up, made once here.
"""The Kubernetes backend against a real API server, with only what the chart grants the worker.

``kube_cluster`` (from ``lakeplane.testing``) runs kube-apiserver, etcd, the controller
manager, the scheduler and kwok. Each test renders ``charts/lakeplane`` with one workspace
namespace, applies its ServiceAccount, Role and RoleBinding, and drives the backend with
a token of that ServiceAccount. kwok's Stages move the driver pod as a kubelet would; each
test picks the timings and the outcome through the pod annotations the connection sets.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _spark_testing import in_cluster_params

from lakeplane.errors import BadCredentials, ConfigError, EngineUnavailable, ValidationFailed
from lakeplane.interfaces import EngineHandle, EngineState, EngineStatus, Submission
from lakeplane.local import kube as local_kube
from lakeplane.testing.contracts import unreachable_url
from lakeplane.testing.kube import KubeCluster, crd_from_json_schema, helm_binary, worker_rbac
from lakeplane_spark import SparkEngine, SparkOptions, SparkParams
from lakeplane_spark.kubernetes import manifests
from lakeplane_spark.kubernetes.backend import KubernetesBackend
from lakeplane_spark.spec import decode_spec

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "lpws-"
S3_SECRET = "s3-secret-" + secrets.token_hex(12)
CATALOG_SECRET = "catalog-secret-" + secrets.token_hex(12)
SPEC = decode_spec({"application": "local:///opt/spark/work-dir/job.py", "args": ["2026-01"]})
#: Long enough that a test can look at a running driver; ``finish_driver`` ends it.
FOREVER = {local_kube.OUTCOME_ANNOTATION: "Running", local_kube.START_MS_ANNOTATION: "100"}


@pytest.fixture(scope="session")
def helm() -> str:
    return helm_binary(ROOT)


@dataclass
class Workspace:
    cluster: KubeCluster
    #: Where the control plane (its ServiceAccount) lives.
    control: str
    #: The workspace namespace, with the chart's Role for the worker.
    namespace: str
    slug: str
    kubeconfig: Path
    account: str

    def params(self, **changes: Any) -> SparkParams:
        base = in_cluster_params(
            S3_SECRET,
            CATALOG_SECRET,
            namespace_prefix=PREFIX,
            spark_operator="never",
            kubeconfig=str(self.kubeconfig),
            driver_annotations={
                local_kube.START_MS_ANNOTATION: "150",
                local_kube.FINISH_MS_ANNOTATION: "400",
            },
        )
        return msgspec.structs.replace(base, **changes)

    def options(self, **changes: Any) -> SparkOptions:
        return msgspec.structs.replace(SparkOptions(workspace_namespaces=[self.namespace]), **changes)

    def submission(self, attempt: int = 1) -> Submission:
        return Submission(
            run_id=f"run_{secrets.token_hex(4)}",
            attempt=attempt,
            workspace=self.slug,
            job_type="spark_batch",
            spec=SPEC,
        )

    def pods(self, selector: str) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        items: list[dict[str, Any]] = self.cluster.get(f"{path}?labelSelector={selector}")["items"]
        return items


def render_worker_rbac(helm: str, control: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's ServiceAccount, Role and RoleBinding for one workspace namespace."""
    return worker_rbac(helm, ROOT / "charts" / "lakeplane", control, namespace, PREFIX)


@pytest.fixture
def workspace(
    kube_cluster: KubeCluster, kube_namespace: str, helm: str, tmp_path: Path
) -> Iterator[Workspace]:
    slug = secrets.token_hex(3)
    namespace = f"{PREFIX}{slug}"
    kube_cluster.create_namespace(namespace)
    objects = render_worker_rbac(helm, kube_namespace, namespace)
    assert {o["kind"] for o in objects} == {"ServiceAccount", "Role", "RoleBinding"}
    kube_cluster.apply(objects, namespace=kube_namespace)
    # The data-plane chart makes the drivers' ServiceAccount; here it is all the pods need.
    kube_cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "spark-driver"}},
        namespace=namespace,
    )
    (account,) = (o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount")
    kubeconfig = kube_cluster.service_account_kubeconfig(
        kube_namespace, account, tmp_path / "worker.kubeconfig"
    )
    yield Workspace(kube_cluster, kube_namespace, namespace, slug, kubeconfig, account)
    kube_cluster.delete("v1", "Namespace", namespace)


@pytest.fixture
async def engine(workspace: Workspace) -> AsyncIterator[SparkEngine]:
    async with SparkEngine(workspace.params(), workspace.options()) as spark:
        yield spark


def backend_of(engine: SparkEngine) -> KubernetesBackend:
    assert isinstance(engine.backend, KubernetesBackend)
    return engine.backend


async def until_terminal(
    engine: SparkEngine, handle: EngineHandle, timeout: float = 30.0
) -> list[EngineStatus]:
    """Every status seen, as the worker asks: status, then wait (which the watch ends early)."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            status = await engine.status(handle)
            if not seen or seen[-1].state is not status.state:
                seen.append(status)
            if status.state.terminal:
                return seen
            await engine.wait(handle, 5.0)


async def until_state(engine: SparkEngine, handle: EngineHandle, state: EngineState) -> None:
    async with asyncio.timeout(30):
        while (await engine.status(handle)).state is not state:
            await engine.wait(handle, 5.0)


# --- a run, end to end -----------------------------------------------------------------


async def test_the_driver_goes_pending_running_succeeded_and_status_comes_from_the_watch(
    engine: SparkEngine, workspace: Workspace
) -> None:
    backend = backend_of(engine)
    submission = workspace.submission()
    handle = await engine.submit(submission)
    assert handle.data["namespace"] == workspace.namespace
    seen = await until_terminal(engine, handle)
    states = [s.state for s in seen]
    assert states[-1] is EngineState.SUCCEEDED, seen
    assert EngineState.RUNNING in states, seen
    watch = backend.watch_of(workspace.namespace)
    assert watch is not None and watch.live.is_set()
    # One list and one watch, whatever the number of status calls; no get per poll.
    assert (watch.relists, watch.requests) == (1, 2)
    before = backend.api_requests
    for _ in range(20):
        assert (await engine.status(handle)).state is EngineState.SUCCEEDED
    # A finished run's status reads the driver log once per call (kwok serves none); nothing else.
    assert backend.api_requests - before == 20


async def test_a_failed_driver_fails_the_run_with_the_pods_reason(workspace: Workspace) -> None:
    params = workspace.params(
        driver_annotations={local_kube.START_MS_ANNOTATION: "100", local_kube.OUTCOME_ANNOTATION: "Failed"}
    )
    async with SparkEngine(params, workspace.options()) as engine:
        handle = await engine.submit(workspace.submission())
        seen = await until_terminal(engine, handle)
    assert seen[-1].state is EngineState.FAILED, seen


async def test_stop_deletes_the_driver_and_what_it_owns(workspace: Workspace) -> None:
    async with SparkEngine(workspace.params(driver_annotations=FOREVER), workspace.options()) as engine:
        submission = workspace.submission()
        handle = await engine.submit(submission)
        await until_state(engine, handle, EngineState.RUNNING)
        await engine.cancel(handle)
        seen = await until_terminal(engine, handle)
        assert seen[-1].state is EngineState.CANCELLED
        assert seen[-1].message == "stopped on request"
        await engine.cancel(handle)  # stopping a stopped run is no error
    names = manifests.run_names(workspace.params(), submission)
    gone = {"pods": names.driver_pod, "secrets": names.secret, "configmaps": names.configmap}
    for resource, name in gone.items():
        path = f"/api/v1/namespaces/{workspace.namespace}/{resource}/{name}"
        deadline = asyncio.get_running_loop().time() + 30
        while workspace.cluster.request("GET", path).status_code != 404:
            assert asyncio.get_running_loop().time() < deadline, f"{resource}/{name} still there"
            await asyncio.sleep(0.2)


async def test_finished_drivers_are_cleaned_up_after_the_ttl(workspace: Workspace) -> None:
    async with SparkEngine(workspace.params(), workspace.options(finished_ttl_s=0)) as engine:
        submission = workspace.submission()
        handle = await engine.submit(submission)
        assert (await until_terminal(engine, handle))[-1].state is EngineState.SUCCEEDED
        assert await engine.list_active() == []
    names = manifests.run_names(workspace.params(), submission)
    for resource, name in {
        "pods": names.driver_pod,
        "secrets": names.secret,
        "configmaps": names.configmap,
    }.items():
        path = f"/api/v1/namespaces/{workspace.namespace}/{resource}/{name}"
        deadline = asyncio.get_running_loop().time() + 60
        while workspace.cluster.request("GET", path).status_code != 404:  # the garbage collector's part
            assert asyncio.get_running_loop().time() < deadline, f"{resource}/{name} still there"
            await asyncio.sleep(0.3)


async def test_a_finished_driver_is_kept_until_the_ttl(engine: SparkEngine, workspace: Workspace) -> None:
    submission = workspace.submission()
    handle = await engine.submit(submission)
    assert (await until_terminal(engine, handle))[-1].state is EngineState.SUCCEEDED
    assert await engine.list_active() == []
    pod = manifests.run_names(workspace.params(), submission).driver_pod
    assert (
        workspace.cluster.request("GET", f"/api/v1/namespaces/{workspace.namespace}/pods/{pod}").status_code
        == 200
    )


async def test_list_active_stays_inside_the_workspace_namespaces(
    workspace: Workspace, kube_namespace: str
) -> None:
    backend_params = workspace.params(driver_annotations=FOREVER)
    async with SparkEngine(backend_params, workspace.options()) as running:
        handle = await running.submit(workspace.submission())
        await until_state(running, handle, EngineState.RUNNING)
        # A Lakeplane-looking driver elsewhere: not ours to see (and the chart grants no look).
        stray = manifests.driver_pod_manifest(backend_params, workspace.submission(), SPEC)
        stray["metadata"]["namespace"] = kube_namespace
        del stray["spec"]["serviceAccountName"]
        workspace.cluster.apply(stray, namespace=kube_namespace)
        active = await running.list_active()
        assert [w.handle.id for w in active] == [handle.id]
        assert active[0].run_id == handle.data["run_id"]
        assert active[0].attempt == 1
        await running.cancel(handle)
    token = workspace.cluster.service_account_token(workspace.control, workspace.account)
    refused = workspace.cluster.request("GET", "/api/v1/pods", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403


async def test_no_secret_value_in_any_object_read_back(engine: SparkEngine, workspace: Workspace) -> None:
    submission = workspace.submission()
    handle = await engine.submit(submission)
    await until_terminal(engine, handle)
    names = manifests.run_names(workspace.params(), submission)
    cluster, ns = workspace.cluster, workspace.namespace
    pod = cluster.get(f"/api/v1/namespaces/{ns}/pods/{names.driver_pod}")
    configmap = cluster.get(f"/api/v1/namespaces/{ns}/configmaps/{names.configmap}")
    events = cluster.get(f"/api/v1/namespaces/{ns}/events")
    for obj in (pod, configmap, events):
        text = json.dumps(obj)
        assert S3_SECRET not in text and CATALOG_SECRET not in text
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    for variable in (manifests.ENV_SECRET_KEY, manifests.ENV_CATALOG_CREDENTIAL):
        assert env[variable]["valueFrom"]["secretKeyRef"]["name"] == names.secret
        assert "value" not in env[variable]
    # The values are in the run's Secret, owned by the driver pod, which the worker cannot read.
    secret = cluster.get(f"/api/v1/namespaces/{ns}/secrets/{names.secret}")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    token = cluster.service_account_token(workspace.control, workspace.account)
    path = f"/api/v1/namespaces/{ns}/secrets/{names.secret}"
    assert cluster.request("GET", path, headers={"Authorization": f"Bearer {token}"}).status_code == 403


# --- bad input -------------------------------------------------------------------------


async def test_an_rbac_refusal_names_the_verb_resource_and_namespace(workspace: Workspace) -> None:
    """A workspace namespace in the options where the chart made no Role (its list and the
    options disagree): the refusal says what was refused, where."""
    elsewhere = f"{PREFIX}{secrets.token_hex(3)}"
    workspace.cluster.create_namespace(elsewhere)
    try:
        options = workspace.options(workspace_namespaces=[workspace.namespace, elsewhere])
        async with SparkEngine(workspace.params(), options) as engine:
            submission = msgspec.structs.replace(
                workspace.submission(), workspace=elsewhere.removeprefix(PREFIX)
            )
            with pytest.raises(BadCredentials) as refused:
                await engine.submit(submission)
        detail = refused.value.detail
        assert f"create pods/{manifests.run_names(workspace.params(), submission).driver_pod}" in detail
        assert f"in namespace {elsewhere}" in detail
        assert "403 Forbidden" in detail and "\n" not in detail
        assert workspace.pods(manifests.RUN_ID_LABEL) == []
    finally:
        workspace.cluster.delete("v1", "Namespace", elsewhere)


async def test_a_manifest_the_api_server_rejects_gives_its_message(workspace: Workspace) -> None:
    params = workspace.params(driver_annotations={"not a valid/annotation key": "x"})
    async with SparkEngine(params, workspace.options()) as engine:
        with pytest.raises(ValidationFailed) as rejected:
            await engine.submit(workspace.submission())
    detail = rejected.value.detail
    assert "the Kubernetes API server rejected the request to create pods/" in detail
    assert "not a valid/annotation key" in detail  # the API server's own message
    assert S3_SECRET not in detail


async def test_an_unreachable_api_server_at_submit_is_engine_unavailable(
    workspace: Workspace, tmp_path: Path
) -> None:
    token = workspace.cluster.service_account_token(workspace.control, workspace.account)
    kubeconfig = tmp_path / "nowhere.kubeconfig"
    kubeconfig.write_text(
        local_kube.kubeconfig_text(unreachable_url("https"), workspace.cluster.ca_data, token, user="worker")
    )
    async with SparkEngine(workspace.params(kubeconfig=str(kubeconfig)), workspace.options()) as engine:
        with pytest.raises(EngineUnavailable, match="unreachable") as unreachable:
            await engine.submit(workspace.submission())
        health = await engine.health()
    assert "\n" not in unreachable.value.detail
    assert not health.ok and "unreachable" in health.checks[0].message


async def test_a_rejected_token_at_start_up_is_one_line(workspace: Workspace, tmp_path: Path) -> None:
    """A token the API server does not accept (expired, revoked, or another cluster's)."""
    kubeconfig = workspace.cluster.write_kubeconfig(
        tmp_path / "stale.kubeconfig", "not-a-token", user="worker"
    )
    async with SparkEngine(workspace.params(kubeconfig=str(kubeconfig)), workspace.options()) as engine:
        health = await engine.health()
        with pytest.raises(BadCredentials) as rejected:
            await engine.submit(workspace.submission())
    assert not health.ok
    assert "401 Unauthorized" in health.checks[0].message and "invalid or expired" in health.checks[0].message
    assert "\n" not in rejected.value.detail


async def test_a_bad_kubeconfig_at_start_up_is_one_line(workspace: Workspace, tmp_path: Path) -> None:
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n")
    async with SparkEngine(workspace.params(kubeconfig=str(broken)), workspace.options()) as engine:
        with pytest.raises(ConfigError) as bad:
            await engine.submit(workspace.submission())
    assert str(broken) in bad.value.detail and "nowhere" in bad.value.detail
    assert "\n" not in bad.value.detail


async def test_a_dropped_watch_resumes_without_a_duplicate_driver(workspace: Workspace) -> None:
    async with SparkEngine(workspace.params(driver_annotations=FOREVER), workspace.options()) as engine:
        submission = workspace.submission()
        handle = await engine.submit(submission)
        await until_state(engine, handle, EngineState.RUNNING)
        watch = backend_of(engine).watch_of(workspace.namespace)
        assert watch is not None
        watch.drop_connection()
        await asyncio.sleep(0.5)
        names = manifests.run_names(workspace.params(), submission)
        workspace.cluster.finish_driver(workspace.namespace, names.driver_pod, "Succeeded")
        seen = await until_terminal(engine, handle)
        assert seen[-1].state is EngineState.SUCCEEDED
        # Resumed from its resourceVersion: watched again, not listed again.
        assert watch.relists == 1 and watch.requests == 3
    assert len(workspace.pods(f"{manifests.RUN_ID_LABEL}={submission.run_id}")) == 1


async def test_another_worker_adopts_a_run_through_the_api_server(workspace: Workspace) -> None:
    """The worker that submitted is gone (its process, its watch and its client); another finds
    the run by its labels, as the worker's adoption does, and follows it to the end."""
    params = workspace.params(driver_annotations=FOREVER)
    first = SparkEngine(params, workspace.options())
    await first.open()
    submission = workspace.submission(attempt=2)
    submitted = await first.submit(submission)
    await until_state(first, submitted, EngineState.RUNNING)
    await first.close()

    async with SparkEngine(params, workspace.options()) as second:
        (found,) = [w for w in await second.list_active() if w.run_id == submission.run_id]
        assert found.attempt == 2
        assert found.handle.data == submitted.data
        assert (await second.status(found.handle)).state is EngineState.RUNNING
        driver = manifests.run_names(params, submission).driver_pod
        workspace.cluster.finish_driver(workspace.namespace, driver, "Succeeded")
        assert (await until_terminal(second, found.handle))[-1].state is EngineState.SUCCEEDED
    assert len(workspace.pods(f"{manifests.RUN_ID_LABEL}={submission.run_id}")) == 1


# --- operator mode -----------------------------------------------------------------------


@pytest.fixture
def sparkapplication_crd(kube_cluster: KubeCluster) -> None:
    """The SparkApplication CRD, its schema the project's own copy of the operator's. That copy
    describes the spec only; ``status`` is kept as the operator writes it."""
    schema_file = ROOT / "tests" / "charts" / "schemas" / "sparkapplication-sparkoperator-v1beta2.json"
    crd = crd_from_json_schema(json.loads(schema_file.read_text()), short_names=("sparkapp",))
    (version,) = crd["spec"]["versions"]
    version["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    kube_cluster.apply(crd)


async def test_operator_mode_creates_a_sparkapplication_and_follows_its_state(
    workspace: Workspace, sparkapplication_crd: None
) -> None:
    """No operator runs here: the test writes the ``status`` the operator would."""
    cluster, ns = workspace.cluster, workspace.namespace
    async with SparkEngine(workspace.params(spark_operator="auto"), workspace.options()) as engine:
        assert await backend_of(engine).has_spark_operator()
        submission = workspace.submission()
        handle = await engine.submit(submission)
        assert handle.data["kind"] == "sparkapplication"
        path = cluster.resource_path(
            "sparkoperator.k8s.io/v1beta2", "SparkApplication", ns, handle.data["name"]
        )
        app = cluster.get(path)
        assert S3_SECRET not in json.dumps(app) and CATALOG_SECRET not in json.dumps(app)
        assert (await engine.status(handle)).state is EngineState.QUEUED
        for state in ("RUNNING", "COMPLETED"):
            answer = cluster.request(
                "PATCH",
                f"{path}/status",
                content=json.dumps({"status": {"applicationState": {"state": state}}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert answer.status_code == 200, answer.text
        seen = await until_terminal(engine, handle)
        assert seen[-1].state is EngineState.SUCCEEDED, seen
        watch = backend_of(engine).watch_of(ns, "sparkapplication")
        assert watch is not None and watch.relists == 1

        stopped = await engine.submit(workspace.submission())
        await engine.cancel(stopped)
        assert (await until_terminal(engine, stopped))[-1].state is EngineState.CANCELLED
        stopped_path = cluster.resource_path(
            "sparkoperator.k8s.io/v1beta2", "SparkApplication", ns, stopped.data["name"]
        )
        assert cluster.request("GET", stopped_path).status_code == 404
