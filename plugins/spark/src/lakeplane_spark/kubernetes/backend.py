# Long module: submit, status, cancel, logs and clean-up all read the same run objects and their naming rules.
"""The ``kubernetes`` backend: a run's driver in the workspace's namespace, through kubernetes-asyncio.

The objects come from :mod:`lakeplane_spark.kubernetes.manifests`; this module only
talks to the API server. Kubernetes errors become Lakeplane errors in
:mod:`lakeplane_spark._errors` (the table of :mod:`lakeplane.drivers.kubernetes`) and nowhere
else, and the API client is made in :func:`connect` and nowhere else.

``handle.data`` holds ``namespace``, ``name`` and ``kind`` (``sparkapplication`` or
``pod``), which is all another process needs: status and logs are read from the API
server, and cancel deletes the main object (its Secret and ConfigMap are owned by it
and go with it) and leaves a small tombstone ConfigMap so that status can tell a
stopped run from a lost one.

Status comes from a :class:`~lakeplane_spark.kubernetes.watch.RunWatch` per namespace,
started at the first submit or status there: a run's status costs no request while
the watch is live, and :meth:`KubernetesBackend.wait` returns as soon as the driver
changes. An object the watch has not seen (created a moment ago by another worker,
or the watch is reconnecting) is read with one ``get``.

Every request names one of the workspace namespaces of the engine's options
(``workspace_namespaces``), where the Helm chart grants the control plane a Role; none
is cluster-wide. A finished SparkApplication is deleted by the operator after
``timeToLiveSeconds``; plain driver pods and tombstones have no such field, so
:meth:`KubernetesBackend.list_active`, which the worker calls every few seconds,
deletes those that ended more than the engine's ``finished_ttl_s`` ago.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from kubernetes_asyncio import client

from lakeplane.drivers.kubernetes import Request, guarded_api_client, load_configuration
from lakeplane.errors import (
    BadCredentials,
    ConfigError,
    Conflict,
    EngineUnavailable,
    LakeplaneError,
    NotFound,
)
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
from lakeplane.timeutil import elapsed_ms
from lakeplane_spark._errors import kubernetes_errors
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
from lakeplane_spark.kubernetes.watch import RunWatch, WatchedKind
from lakeplane_spark.params import SparkParams
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
DRIVER_SELECTOR = f"{RUN_ID_LABEL},{manifests.ROLE_LABEL}=driver"
POD_PHASES = {
    "Pending": EngineState.QUEUED,
    "Running": EngineState.RUNNING,
    "Succeeded": EngineState.SUCCEEDED,
    "Failed": EngineState.FAILED,
    "Unknown": EngineState.RUNNING,
}
#: A driver log comes from the node's kubelet through the API server; a node may not answer.
LOG_TIMEOUT_S = 15.0
#: Whether the Spark Operator is installed is asked again after this long.
DISCOVERY_TTL_S = 60.0

WATCHED = {
    "pod": WatchedKind(
        resource="pods",
        lister=lambda api: client.CoreV1Api(api).list_namespaced_pod,
        label_selector=DRIVER_SELECTOR,
        suffix="-driver",
    ),
    "sparkapplication": WatchedKind(
        resource=PLURAL,
        lister=lambda api: client.CustomObjectsApi(api).list_namespaced_custom_object,
        label_selector=RUN_ID_LABEL,
        before=(SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION),
        after=(PLURAL,),
    ),
}


class CountingApiClient(client.ApiClient):  # type: ignore[misc]
    """An API client that counts the requests it sends (the benchmark reports them)."""

    requests = 0

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return await super().request(*args, **kwargs)


async def connect(params: SparkParams) -> client.ApiClient:
    """The API client of a connection: its ``kubeconfig`` (and ``kube_context``), or the pod's
    service account when it names none."""
    configuration = await load_configuration(
        params.kubeconfig, params.kube_context, field=kubernetes_errors.config_field
    )
    return guarded_api_client(configuration, CountingApiClient)


class KubernetesBackend(SparkBackend):
    kind = "kubernetes"
    _api: client.ApiClient | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watches: dict[tuple[str, str], RunWatch] = {}
        self._operator: tuple[float, bool] | None = None

    async def close(self) -> None:
        for watch in self._watches.values():
            await watch.stop()
        self._watches.clear()
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def _client(self) -> client.ApiClient:
        if self._api is None:
            self._api = await connect(self.params)
        return self._api

    @property
    def namespaces(self) -> list[str]:
        """The workspace namespaces this connection works in: those of the options with its prefix."""
        prefix = self.params.namespace_prefix
        return [ns for ns in self.options.workspace_namespaces if ns.startswith(prefix)]

    @property
    def api_requests(self) -> int:
        """Requests sent to the API server so far by this backend (for the benchmark)."""
        return int(getattr(self._api, "requests", 0))

    def watch_of(self, namespace: str, kind: str = "pod") -> RunWatch | None:
        """The status watch of ``namespace``, once a submit or status there started it."""
        return self._watches.get((namespace, kind))

    async def checks(self) -> list[Check]:
        return [await self._cluster_check(), self._namespaces_check()]

    async def _cluster_check(self) -> Check:
        started = time.perf_counter()
        try:
            self._operator = None
            operator = await self.has_spark_operator()
        except (EngineUnavailable, BadCredentials, ConfigError) as exc:
            return Check("kubernetes", CheckStatus.FAILED, exc.detail, elapsed_ms(started))
        detail = "Spark Operator found" if operator else "no Spark Operator: plain driver pods"
        return Check("kubernetes", CheckStatus.OK, detail, elapsed_ms(started))

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
        """Does the API server serve ``sparkoperator.k8s.io/v1beta2``? (Discovery needs no extra
        rights.) The answer is kept for :data:`DISCOVERY_TTL_S`."""
        if self._operator is not None and time.monotonic() - self._operator[0] < DISCOVERY_TTL_S:
            return self._operator[1]
        api = await self._client()
        with kubernetes_errors(Request("get", "API groups")):
            groups = await client.ApisApi(api).get_api_versions()
        found = any(
            group.name == SPARK_OPERATOR_GROUP
            and any(v.version == SPARK_OPERATOR_VERSION for v in group.versions)
            for group in groups.groups
        )
        self._operator = (time.monotonic(), found)
        return found

    async def _use_operator(self) -> bool:
        if self.params.spark_operator == "always":
            return True
        if self.params.spark_operator == "never":
            return False
        return await self.has_spark_operator()

    def _watch(self, api: client.ApiClient, namespace: str, kind: str) -> RunWatch:
        watch = self._watches.get((namespace, kind))
        if watch is None:
            watch = self._watches[(namespace, kind)] = RunWatch(api, namespace, WATCHED[kind])
            watch.start()
        return watch

    async def submit(
        self, submission: Submission, spec: SparkBatchSpec, app_source: bytes | None
    ) -> EngineHandle:
        self._check_namespace(submission)
        run = manifests.build(self.params, submission, spec, app_source, await self._use_operator())
        api = await self._client()
        core = client.CoreV1Api(api)
        ns = run.names.namespace
        if run.kind == "sparkapplication":
            with kubernetes_errors(Request("create", PLURAL, ns, run.names.name)):
                created = await client.CustomObjectsApi(api).create_namespaced_custom_object(
                    SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, ns, PLURAL, run.main
                )
        else:
            with kubernetes_errors(Request("create", "pods", ns, run.names.driver_pod)):
                created = api.sanitize_for_serialization(
                    await core.create_namespaced_pod(ns, _body(run.main))
                )
        uid = created["metadata"]["uid"]
        self._watch(api, ns, run.kind).put(created)
        # Owned by the main object: deleting it (stop, TTL) deletes the secret and code too.
        with kubernetes_errors(Request("create", "secrets", ns, run.names.secret)):
            await core.create_namespaced_secret(ns, _body(manifests.owned_by(run.secret, run.main, uid)))
        with kubernetes_errors(Request("create", "configmaps", ns, run.names.configmap)):
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
        main = await self._main(handle)
        if main is None:
            if await self._tombstone_exists(names):
                return EngineStatus(EngineState.CANCELLED, "stopped on request")
            return EngineStatus(
                EngineState.LOST, f"{handle.data['kind']} {names.name} not found in {names.namespace}"
            )
        state, message = _state(handle, main)
        if state is EngineState.SUCCEEDED:
            return EngineStatus(state, stats=reported_stats(self.redact(await self._driver_log(handle))))
        if state is EngineState.FAILED:
            tail = failure_tail(self.redact(await self._driver_log(handle)))
            return EngineStatus(state, f"{message}\n{tail}".strip())
        return EngineStatus(state, message)

    async def wait(self, handle: EngineHandle, seconds: float) -> None:
        """Return when the watch sees the run's main object change, or after ``seconds``."""
        watch = self._watches.get((str(handle.data["namespace"]), str(handle.data["kind"])))
        if watch is None or not watch.live.is_set():
            await super().wait(handle, seconds)
            return
        await watch.changed(str(handle.data["name"]), seconds)

    async def cancel(self, handle: EngineHandle) -> None:
        names = _names(handle)
        main = await self._main(handle)
        if main is None or _state(handle, main)[0].terminal:
            return
        api = await self._client()
        labels = {
            manifests.RUN_ID_LABEL: str(handle.data.get("run_id", "")),
            manifests.MANAGED_BY[0]: manifests.MANAGED_BY[1],
        }
        try:
            with kubernetes_errors(Request("create", "configmaps", names.namespace, names.tombstone)):
                await client.CoreV1Api(api).create_namespaced_config_map(
                    names.namespace, _body(manifests.tombstone_manifest(names, labels))
                )
        except Conflict:
            pass  # stopped before
        try:
            if handle.data["kind"] == "sparkapplication":
                with kubernetes_errors(Request("delete", PLURAL, names.namespace, names.name)):
                    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP,
                        SPARK_OPERATOR_VERSION,
                        names.namespace,
                        PLURAL,
                        names.name,
                        body=_BACKGROUND,
                    )
            else:
                with kubernetes_errors(Request("delete", "pods", names.namespace, names.driver_pod)):
                    await client.CoreV1Api(api).delete_namespaced_pod(
                        names.driver_pod, names.namespace, body=_BACKGROUND
                    )
        except NotFound:
            pass  # gone already

    async def logs(self, handle: EngineHandle, offset: int) -> LogChunk:
        text = self.redact(await self._driver_log(handle))
        return LogChunk(text=text[offset:], offset=max(offset, len(text)))

    async def list_active(self) -> list[ActiveWork]:
        """Drivers and SparkApplications of Lakeplane runs that have not ended, listed in each
        workspace namespace (the chart grants nothing cluster-wide).

        On the way it deletes driver pods and tombstones that ended more than the engine's
        ``finished_ttl_s`` ago, the TTL the operator applies to a SparkApplication: by then the
        worker has long recorded the run's outcome and copied its log.
        """
        if not self.namespaces:
            return []
        api = await self._client()
        operator = await self._use_operator()
        ended_before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.options.finished_ttl_s)
        active = []
        for ns in self.namespaces:
            finished = []
            if operator:
                with kubernetes_errors(Request("list", PLURAL, ns)):
                    apps = await client.CustomObjectsApi(api).list_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, ns, PLURAL, label_selector=RUN_ID_LABEL
                    )
                for app in apps["items"]:
                    meta = app["metadata"]
                    state = ((app.get("status") or {}).get("applicationState") or {}).get("state", "")
                    if not OPERATOR_STATES.get(state, EngineState.RUNNING).terminal:
                        active.append(_active(ns, meta["name"], "sparkapplication", meta.get("labels")))
            else:
                with kubernetes_errors(Request("list", "pods", ns)):
                    pods = await client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=DRIVER_SELECTOR)
                for pod in pods.items:
                    if pod.status.phase in ("Pending", "Running", "Unknown", None):
                        name = pod.metadata.name.removesuffix("-driver")
                        active.append(_active(ns, name, "pod", pod.metadata.labels))
                    elif _ended_at(pod) < ended_before:
                        finished.append(pod.metadata.name)
            await _clean_up(client.CoreV1Api(api), ns, finished, ended_before)
        return active

    async def _main(self, handle: EngineHandle) -> dict[str, Any] | None:
        """The run's main object: from the namespace's watch, else read once; ``None`` if gone."""
        names = _names(handle)
        kind = str(handle.data["kind"])
        api = await self._client()
        watch = self._watch(api, names.namespace, kind)
        seen = watch.get(names.name)
        if seen is not None:
            return seen
        try:
            if kind == "sparkapplication":
                with kubernetes_errors(Request("get", PLURAL, names.namespace, names.name)):
                    found: dict[str, Any] = await client.CustomObjectsApi(api).get_namespaced_custom_object(
                        SPARK_OPERATOR_GROUP, SPARK_OPERATOR_VERSION, names.namespace, PLURAL, names.name
                    )
                return found
            with kubernetes_errors(Request("get", "pods", names.namespace, names.driver_pod)):
                pod = await client.CoreV1Api(api).read_namespaced_pod(names.driver_pod, names.namespace)
            read: dict[str, Any] = api.sanitize_for_serialization(pod)
            return read
        except NotFound:
            return None

    async def _tombstone_exists(self, names: RunNames) -> bool:
        api = await self._client()
        try:
            with kubernetes_errors(Request("get", "configmaps", names.namespace, names.tombstone)):
                await client.CoreV1Api(api).read_namespaced_config_map(names.tombstone, names.namespace)
        except NotFound:
            return False
        return True

    async def _driver_log(self, handle: EngineHandle) -> str:
        """The driver pod's log (the operator names its driver pod ``<app>-driver`` too); empty if
        the pod has not started, is gone, or its node serves no logs: the outcome stands anyway."""
        names = _names(handle)
        container = DRIVER_CONTAINER if handle.data["kind"] == "pod" else OPERATOR_DRIVER_CONTAINER
        api = await self._client()
        try:
            with kubernetes_errors(Request("get", "pods/log", names.namespace, names.driver_pod)):
                text: str = await client.CoreV1Api(api).read_namespaced_pod_log(
                    names.driver_pod, names.namespace, container=container, _request_timeout=LOG_TIMEOUT_S
                )
        except LakeplaneError as exc:
            if not isinstance(exc, NotFound):
                log.info("no log for %s in %s: %s", names.driver_pod, names.namespace, exc.detail)
            return ""
        return text


def _body(manifest: dict[str, Any]) -> Any:
    """A manifest as a request body: the client sends dicts as they are."""
    return manifest


def _state(handle: EngineHandle, main: dict[str, Any]) -> tuple[EngineState, str]:
    status = main.get("status") or {}
    if handle.data["kind"] == "sparkapplication":
        app_state = status.get("applicationState") or {}
        return OPERATOR_STATES.get(app_state.get("state", ""), EngineState.RUNNING), str(
            app_state.get("errorMessage", "")
        )
    return POD_PHASES.get(status.get("phase") or "Pending", EngineState.RUNNING), _pod_reason(status)


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


def _pod_reason(status: dict[str, Any]) -> str:
    """Why a driver pod is waiting or ended: ``ImagePullBackOff``, ``Error (exit 1)``, ..."""
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            return str(state["waiting"]["reason"])
        if state.get("terminated"):
            ended = state["terminated"]
            return f"{ended.get('reason') or 'terminated'} (exit {ended.get('exitCode')})"
    return str(status.get("reason") or "")


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
            await _delete(
                core.delete_namespaced_pod(name, ns, body=_BACKGROUND), Request("delete", "pods", ns, name)
            )
        with kubernetes_errors(Request("list", "configmaps", ns)):
            tombstones = await core.list_namespaced_config_map(ns, label_selector=TOMBSTONE_SELECTOR)
        for tombstone in tombstones.items:
            if tombstone.metadata.creation_timestamp < ended_before:
                name = tombstone.metadata.name
                await _delete(
                    core.delete_namespaced_config_map(name, ns), Request("delete", "configmaps", ns, name)
                )
    except LakeplaneError as exc:
        log.warning("could not clean up finished Spark runs in %s: %s", ns, exc.detail)


async def _delete(call: Any, request: Request) -> None:
    """Await a delete; an object already gone is not an error."""
    try:
        with kubernetes_errors(request):
            await call
    except NotFound:
        pass
