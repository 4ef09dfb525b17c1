"""The ``kubernetes`` backend: a run's driver in the workspace's namespace, through kubernetes-asyncio.

The objects come from :mod:`lakeplane_spark.kubernetes.manifests`; this module only
talks to the API server. Kubernetes errors are mapped to Lakeplane errors in
:func:`_kubernetes_errors` and nowhere else.

``handle.data`` holds ``namespace``, ``name`` and ``kind`` (``sparkapplication`` or
``pod``), which is all another process needs: status and logs are read from the API
server, and cancel deletes the main object (its Secret and ConfigMap are owned by it
and go with it) and leaves a small tombstone ConfigMap so that status can tell a
stopped run from a lost one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from lakeplane.errors import BadCredentials, EngineUnavailable
from lakeplane.interfaces import (
    ActiveWork,
    Check,
    CheckStatus,
    EngineHandle,
    EngineState,
    EngineStatus,
    LogChunk,
    Submission,
)
from lakeplane_spark.backend import SparkBackend
from lakeplane_spark.driverlog import failure_tail, reported_stats
from lakeplane_spark.kubernetes import manifests
from lakeplane_spark.kubernetes.manifests import (
    RUN_ID_LABEL,
    SPARK_OPERATOR_GROUP,
    SPARK_OPERATOR_VERSION,
    RunNames,
)
from lakeplane_spark.spec import SparkBatchSpec

PLURAL = "sparkapplications"
DRIVER_CONTAINER = "spark-driver"
#: The container Spark names in the driver pods it (and so the operator) creates.
OPERATOR_DRIVER_CONTAINER = "spark-kubernetes-driver"
#: SparkApplication ``status.applicationState.state`` -> engine state.
OPERATOR_STATES = {
    "": EngineState.QUEUED,
    "SUBMITTED": EngineState.QUEUED,
    "PENDING_RERUN": EngineState.QUEUED,
    "RUNNING": EngineState.RUNNING,
    "SUCCEEDING": EngineState.RUNNING,
    "FAILING": EngineState.RUNNING,
    "INVALIDATING": EngineState.RUNNING,
    "UNKNOWN": EngineState.RUNNING,
    "COMPLETED": EngineState.SUCCEEDED,
    "FAILED": EngineState.FAILED,
    "SUBMISSION_FAILED": EngineState.FAILED,
}
POD_PHASES = {
    "Pending": EngineState.QUEUED,
    "Running": EngineState.RUNNING,
    "Succeeded": EngineState.SUCCEEDED,
    "Failed": EngineState.FAILED,
    "Unknown": EngineState.RUNNING,
}


@asynccontextmanager
async def _kubernetes_errors(action: str) -> AsyncIterator[None]:
    """The one place where kubernetes-asyncio and aiohttp errors become Lakeplane errors."""
    try:
        yield
    except ApiException as exc:
        if exc.status in (401, 403):
            raise BadCredentials(f"Kubernetes refused to {action} ({exc.status} {exc.reason})") from None
        raise EngineUnavailable(f"Kubernetes failed to {action} ({exc.status} {exc.reason})") from None
    except (aiohttp.ClientError, ConfigException, OSError) as exc:
        raise EngineUnavailable(f"Kubernetes is unreachable ({action}): {type(exc).__name__}") from None


class KubernetesBackend(SparkBackend):
    kind = "kubernetes"
    _api: client.ApiClient | None = None

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def _client(self) -> client.ApiClient:
        if self._api is None:
            configuration = client.Configuration()
            async with _kubernetes_errors("load its configuration"):
                if self.params.kubeconfig:
                    await config.load_kube_config(
                        config_file=self.params.kubeconfig,
                        context=self.params.kube_context,
                        client_configuration=configuration,
                    )
                else:
                    config.load_incluster_config(client_configuration=configuration)
            self._api = client.ApiClient(configuration=configuration)
        return self._api

    async def checks(self) -> list[Check]:
        started = time.perf_counter()
        try:
            operator = await self.has_spark_operator()
        except (EngineUnavailable, BadCredentials) as exc:
            return [Check("kubernetes", CheckStatus.FAILED, exc.detail, _ms(started))]
        detail = "Spark Operator found" if operator else "no Spark Operator: plain driver pods"
        return [Check("kubernetes", CheckStatus.OK, detail, _ms(started))]

    async def has_spark_operator(self) -> bool:
        """Does the API server serve ``sparkoperator.k8s.io/v1beta2``? (Discovery needs no extra rights.)"""
        async with _kubernetes_errors("list API groups"):
            groups = await client.ApisApi(await self._client()).get_api_versions()
        return any(
            group.name == SPARK_OPERATOR_GROUP
            and any(v.version == SPARK_OPERATOR_VERSION for v in group.versions)
            for group in groups.groups
        )

    async def _use_operator(self) -> bool:
        if self.params.spark_operator == "always":
            return True
        if self.params.spark_operator == "never":
            return False
        return await self.has_spark_operator()

    async def submit(
        self, submission: Submission, spec: SparkBatchSpec, app_source: bytes | None
    ) -> EngineHandle:
        run = manifests.build(self.params, submission, spec, app_source, await self._use_operator())
        api = await self._client()
        core = client.CoreV1Api(api)
        ns = run.names.namespace
        async with _kubernetes_errors(f"start the driver in namespace {ns}"):
            if run.kind == "sparkapplication":
                created = await client.CustomObjectsApi(api).create_namespaced_custom_object(
                    SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, ns, PLURAL, run.main
                )
                uid = created["metadata"]["uid"]
            else:
                pod = await core.create_namespaced_pod(ns, _body(run.main))
                uid = pod.metadata.uid
            # Owned by the main object: deleting it (stop, TTL) deletes the secret and code too.
            await core.create_namespaced_secret(ns, _body(manifests.owned_by(run.secret, run.main, uid)))
            await core.create_namespaced_config_map(
                ns, _body(manifests.owned_by(run.configmap, run.main, uid))
            )
        return EngineHandle(
            engine="spark",
            id=f"{ns}/{run.names.name}",
            data=_handle_data(run.names, run.kind, submission.run_id),
        )

    async def status(self, handle: EngineHandle) -> EngineStatus:
        names = _names(handle)
        main = await self._read_main(handle)
        if main is None:
            if await self._tombstone_exists(names):
                return EngineStatus(EngineState.CANCELLED, "stopped on request")
            return EngineStatus(
                EngineState.LOST, f"{handle.data['kind']} {names.name} not found in {names.namespace}"
            )
        if handle.data["kind"] == "sparkapplication":
            app_state = (main.get("status") or {}).get("applicationState") or {}
            state = OPERATOR_STATES.get(app_state.get("state", ""), EngineState.RUNNING)
            message = app_state.get("errorMessage", "")
        else:
            state = POD_PHASES.get(main.status.phase or "Pending", EngineState.RUNNING)
            message = _pod_reason(main)
        if state is EngineState.SUCCEEDED:
            return EngineStatus(state, stats=reported_stats(self.redact(await self._driver_log(handle))))
        if state is EngineState.FAILED:
            tail = failure_tail(self.redact(await self._driver_log(handle)))
            return EngineStatus(state, f"{message}\n{tail}".strip())
        return EngineStatus(state, message)

    async def cancel(self, handle: EngineHandle) -> None:
        names = _names(handle)
        if await self._read_main(handle) is None:
            return
        if (await self.status(handle)).state.terminal:
            return
        api = await self._client()
        labels = {
            manifests.RUN_ID_LABEL: str(handle.data.get("run_id", "")),
            manifests.MANAGED_BY[0]: manifests.MANAGED_BY[1],
        }
        async with _kubernetes_errors(f"stop {names.name}"):
            await _ignore_conflict(
                client.CoreV1Api(api).create_namespaced_config_map(
                    names.namespace, _body(manifests.tombstone_manifest(names, labels))
                )
            )
            body = client.V1DeleteOptions(propagation_policy="Background")
            try:
                if handle.data["kind"] == "sparkapplication":
                    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP,
                        SPARK_OPERATOR_VERSION,
                        names.namespace,
                        PLURAL,
                        names.name,
                        body=body,
                    )
                else:
                    await client.CoreV1Api(api).delete_namespaced_pod(
                        names.driver_pod, names.namespace, body=body
                    )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    async def logs(self, handle: EngineHandle, offset: int) -> LogChunk:
        text = self.redact(await self._driver_log(handle))
        return LogChunk(text=text[offset:], offset=max(offset, len(text)))

    async def list_active(self) -> list[ActiveWork]:
        """Drivers and SparkApplications of Lakeplane runs that have not ended, in every namespace."""
        api = await self._client()
        active = []
        selector = f"{RUN_ID_LABEL},{manifests.ROLE_LABEL}=driver"
        async with _kubernetes_errors("list Spark drivers"):
            if await self._use_operator():
                apps = await client.CustomObjectsApi(api).list_cluster_custom_object(
                    SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, PLURAL, label_selector=RUN_ID_LABEL
                )
                for app in apps["items"]:
                    meta = app["metadata"]
                    state = ((app.get("status") or {}).get("applicationState") or {}).get("state", "")
                    if not OPERATOR_STATES.get(state, EngineState.RUNNING).terminal:
                        active.append(
                            _active(meta["namespace"], meta["name"], "sparkapplication", meta["labels"])
                        )
            else:
                pods = await client.CoreV1Api(api).list_pod_for_all_namespaces(label_selector=selector)
                for pod in pods.items:
                    if pod.status.phase in ("Pending", "Running", "Unknown"):
                        name = pod.metadata.name.removesuffix("-driver")
                        active.append(_active(pod.metadata.namespace, name, "pod", pod.metadata.labels))
        return [a for a in active if a.handle.data["namespace"].startswith(self.params.namespace_prefix)]

    async def _read_main(self, handle: EngineHandle) -> Any:
        names = _names(handle)
        api = await self._client()
        async with _kubernetes_errors(f"read {names.name}"):
            try:
                if handle.data["kind"] == "sparkapplication":
                    return await client.CustomObjectsApi(api).get_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, names.namespace, PLURAL, names.name
                    )
                return await client.CoreV1Api(api).read_namespaced_pod(names.driver_pod, names.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    async def _tombstone_exists(self, names: RunNames) -> bool:
        async with _kubernetes_errors(f"read {names.tombstone}"):
            try:
                await client.CoreV1Api(await self._client()).read_namespaced_config_map(
                    names.tombstone, names.namespace
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        return True

    async def _driver_log(self, handle: EngineHandle) -> str:
        """The driver pod's log; the operator names its driver pod ``<app>-driver`` too."""
        names = _names(handle)
        container = DRIVER_CONTAINER if handle.data["kind"] == "pod" else OPERATOR_DRIVER_CONTAINER
        async with _kubernetes_errors(f"read the log of {names.driver_pod}"):
            try:
                log: str = await client.CoreV1Api(await self._client()).read_namespaced_pod_log(
                    names.driver_pod, names.namespace, container=container
                )
            except ApiException as exc:
                if exc.status in (400, 404):  # not started yet, or already deleted
                    return ""
                raise
        return log


def _body(manifest: dict[str, Any]) -> Any:
    """A manifest as a request body: the client sends dicts as they are."""
    return manifest


def _handle_data(names: RunNames, kind: str, run_id: str | None) -> dict[str, Any]:
    return {
        "backend": "kubernetes",
        "namespace": names.namespace,
        "name": names.name,
        "kind": kind,
        "run_id": run_id,
    }


def _names(handle: EngineHandle) -> RunNames:
    return RunNames(namespace=str(handle.data["namespace"]), name=str(handle.data["name"]))


def _active(namespace: str, name: str, kind: str, labels: dict[str, str] | None) -> ActiveWork:
    run_id = (labels or {}).get(RUN_ID_LABEL)
    names = RunNames(namespace, name)
    handle = EngineHandle(engine="spark", id=f"{namespace}/{name}", data=_handle_data(names, kind, run_id))
    return ActiveWork(handle=handle, run_id=run_id)


def _pod_reason(pod: Any) -> str:
    """Why a driver pod is waiting or ended: ``ImagePullBackOff``, ``Error (exit 1)``, ..."""
    for status in pod.status.container_statuses or []:
        state = status.state
        if state and state.waiting and state.waiting.reason:
            return str(state.waiting.reason)
        if state and state.terminated:
            return f"{state.terminated.reason or 'terminated'} (exit {state.terminated.exit_code})"
    return str(pod.status.reason or "")


async def _ignore_conflict(call: Any) -> None:
    try:
        await call
    except ApiException as exc:
        if exc.status != 409:
            raise


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
