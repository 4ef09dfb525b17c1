"""The ``kubernetes`` backend: a run's driver in the workspace's namespace, through kubernetes-asyncio.

The objects come from :mod:`lakeplane_spark.kubernetes.manifests`; this module only
talks to the API server. Kubernetes errors are mapped to Lakeplane errors in
:func:`_kubernetes_errors` and nowhere else.

``handle.data`` holds ``namespace``, ``name`` and ``kind`` (``sparkapplication`` or
``pod``), which is all another process needs: status and logs are read from the API
server, and cancel deletes the main object (its Secret and ConfigMap are owned by it
and go with it) and leaves a small tombstone ConfigMap so that status can tell a
stopped run from a lost one.

Every request names one of the workspace namespaces of the engine's options
(``workspace_namespaces``), where the Helm chart grants the control plane a Role; none
is cluster-wide. A finished SparkApplication is deleted by the operator after
``timeToLiveSeconds``; plain driver pods and tombstones have no such field, so
:meth:`KubernetesBackend.list_active`, which the worker calls every few seconds,
deletes those that ended more than :data:`~manifests.FINISHED_TTL_S` ago.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from lakeplane.errors import BadCredentials, ConfigError, EngineUnavailable
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
from lakeplane.security.connect_aiohttp import GuardedResolver
from lakeplane.security.endpoints import endpoint_guard
from lakeplane_spark.backend import SparkBackend
from lakeplane_spark.driverlog import failure_tail, reported_stats
from lakeplane_spark.kubernetes import manifests
from lakeplane_spark.kubernetes.manifests import (
    ATTEMPT_LABEL,
    RUN_ID_LABEL,
    SPARK_OPERATOR_GROUP,
    SPARK_OPERATOR_VERSION,
    RunNames,
)
from lakeplane_spark.spec import SparkBatchSpec

log = logging.getLogger("lakeplane.spark")

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
#: Deletes go on in the background: what a pod or SparkApplication owns goes with it.
_BACKGROUND = client.V1DeleteOptions(propagation_policy="Background")
TOMBSTONE_SELECTOR = f"{manifests.ROLE_LABEL}=tombstone,{manifests.MANAGED_BY[0]}={manifests.MANAGED_BY[1]}"
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


def guarded_api_client(configuration: client.Configuration) -> client.ApiClient:
    """An ApiClient whose connections go through the endpoint guard, after resolution."""
    # aiohttp skips its resolver for a literal address (the usual in-cluster host): checked here.
    endpoint_guard().check("kubernetes", configuration.host or "", resolve=False)
    api = client.ApiClient(configuration=configuration)
    # kubernetes_asyncio builds its aiohttp connector itself and takes no resolver.
    connector: Any = api.rest_client.pool_manager.connector
    connector._resolver = GuardedResolver()
    return api


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
            self._api = guarded_api_client(configuration)
        return self._api

    @property
    def namespaces(self) -> list[str]:
        """The workspace namespaces this connection works in: those of the options with its prefix."""
        prefix = self.params.namespace_prefix
        return [ns for ns in self.options.workspace_namespaces if ns.startswith(prefix)]

    async def checks(self) -> list[Check]:
        return [await self._cluster_check(), self._namespaces_check()]

    async def _cluster_check(self) -> Check:
        started = time.perf_counter()
        try:
            operator = await self.has_spark_operator()
        except (EngineUnavailable, BadCredentials) as exc:
            return Check("kubernetes", CheckStatus.FAILED, exc.detail, _ms(started))
        detail = "Spark Operator found" if operator else "no Spark Operator: plain driver pods"
        return Check("kubernetes", CheckStatus.OK, detail, _ms(started))

    def _namespaces_check(self) -> Check:
        if self.namespaces:
            return Check("workspace namespaces", CheckStatus.OK, ", ".join(self.namespaces))
        return Check(
            "workspace namespaces",
            CheckStatus.FAILED,
            f"none starting with {self.params.namespace_prefix!r} in the engine's "
            "workspace_namespaces option (the charts' spark.workspaceNamespaces)",
        )

    def _check_namespace(self, submission: Submission) -> None:
        namespace = manifests.run_names(self.params, submission).namespace
        if namespace not in self.namespaces:
            raise ConfigError(
                "workspace_namespaces",
                f"Spark drivers of workspace {submission.workspace!r} would run in namespace "
                f"{namespace}, which is not one of the workspace namespaces "
                f"({', '.join(self.namespaces) or 'none'}): add it to spark.workspaceNamespaces "
                "of both Helm charts",
            )

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
        self._check_namespace(submission)
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
            if handle.data["kind"] == "sparkapplication":
                await _delete(
                    client.CustomObjectsApi(api).delete_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP,
                        SPARK_OPERATOR_VERSION,
                        names.namespace,
                        PLURAL,
                        names.name,
                        body=_BACKGROUND,
                    )
                )
            else:
                await _delete(
                    client.CoreV1Api(api).delete_namespaced_pod(
                        names.driver_pod, names.namespace, body=_BACKGROUND
                    )
                )

    async def logs(self, handle: EngineHandle, offset: int) -> LogChunk:
        text = self.redact(await self._driver_log(handle))
        return LogChunk(text=text[offset:], offset=max(offset, len(text)))

    async def list_active(self) -> list[ActiveWork]:
        """Drivers and SparkApplications of Lakeplane runs that have not ended, listed in each
        workspace namespace (the chart grants nothing cluster-wide).

        On the way it deletes driver pods and tombstones that ended more than
        :data:`~manifests.FINISHED_TTL_S` ago, the TTL the operator applies to a SparkApplication:
        by then the worker has long recorded the run's outcome and copied its log.
        """
        if not self.namespaces:
            return []
        api = await self._client()
        core = client.CoreV1Api(api)
        operator = await self._use_operator()
        ended_before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=manifests.FINISHED_TTL_S)
        active = []
        for ns in self.namespaces:
            finished = []
            async with _kubernetes_errors(f"list Spark drivers in namespace {ns}"):
                if operator:
                    apps = await client.CustomObjectsApi(api).list_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, ns, PLURAL, label_selector=RUN_ID_LABEL
                    )
                    for app in apps["items"]:
                        meta = app["metadata"]
                        state = ((app.get("status") or {}).get("applicationState") or {}).get("state", "")
                        if not OPERATOR_STATES.get(state, EngineState.RUNNING).terminal:
                            active.append(_active(ns, meta["name"], "sparkapplication", meta["labels"]))
                else:
                    selector = f"{RUN_ID_LABEL},{manifests.ROLE_LABEL}=driver"
                    for pod in (await core.list_namespaced_pod(ns, label_selector=selector)).items:
                        if pod.status.phase in ("Pending", "Running", "Unknown"):
                            name = pod.metadata.name.removesuffix("-driver")
                            active.append(_active(ns, name, "pod", pod.metadata.labels))
                        elif _ended_at(pod) < ended_before:
                            finished.append(pod.metadata.name)
            await _clean_up(core, ns, finished, ended_before)
        return active

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
    tagged = (labels or {}).get(ATTEMPT_LABEL, "")
    names = RunNames(namespace, name)
    handle = EngineHandle(engine="spark", id=f"{namespace}/{name}", data=_handle_data(names, kind, run_id))
    return ActiveWork(handle=handle, run_id=run_id, attempt=int(tagged) if tagged.isdigit() else None)


def _pod_reason(pod: Any) -> str:
    """Why a driver pod is waiting or ended: ``ImagePullBackOff``, ``Error (exit 1)``, ..."""
    for status in pod.status.container_statuses or []:
        state = status.state
        if state and state.waiting and state.waiting.reason:
            return str(state.waiting.reason)
        if state and state.terminated:
            return f"{state.terminated.reason or 'terminated'} (exit {state.terminated.exit_code})"
    return str(pod.status.reason or "")


def _ended_at(pod: Any) -> dt.datetime:
    """When a finished driver pod's container stopped; its creation if it never ran."""
    ended: dt.datetime = pod.metadata.creation_timestamp
    for status in pod.status.container_statuses or []:
        if status.state and status.state.terminated and status.state.terminated.finished_at:
            ended = status.state.terminated.finished_at
    return ended


async def _clean_up(
    core: client.CoreV1Api, ns: str, driver_pods: list[str], ended_before: dt.datetime
) -> None:
    """Delete the given finished driver pods (what they own goes with them) and the tombstones
    made before ``ended_before``. Housekeeping: a failure is logged, not raised."""
    try:
        for name in driver_pods:
            await _delete(core.delete_namespaced_pod(name, ns, body=_BACKGROUND))
        tombstones = await core.list_namespaced_config_map(ns, label_selector=TOMBSTONE_SELECTOR)
        for tombstone in tombstones.items:
            if tombstone.metadata.creation_timestamp < ended_before:
                await _delete(core.delete_namespaced_config_map(tombstone.metadata.name, ns))
    except ApiException as exc:
        log.warning("could not clean up finished Spark runs in %s (%s %s)", ns, exc.status, exc.reason)
    except (aiohttp.ClientError, OSError) as exc:
        log.warning("could not clean up finished Spark runs in %s: %s", ns, type(exc).__name__)


async def _delete(call: Any) -> None:
    """Await a delete; an object already gone is not an error."""
    try:
        await call
    except ApiException as exc:
        if exc.status != 404:
            raise


async def _ignore_conflict(call: Any) -> None:
    try:
        await call
    except ApiException as exc:
        if exc.status != 409:
            raise


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
