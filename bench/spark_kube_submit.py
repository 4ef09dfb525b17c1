"""What the Spark plugin's Kubernetes backend adds over bare kubernetes-asyncio, on one API server.

Against a real kube-apiserver (etcd, controller manager, scheduler, kwok; built and
started by ``lakeplane.local.kube``, or an already running one via ``--kubeconfig``):

``submit``   rounds interleave two ways to create the same driver pod (the plugin's
             manifest, a new name each time):
             ``plugin``  ``SparkEngine.submit()``: spec checks, namespace check, manifest,
                         the pod, then its Secret and ConfigMap;
             ``bare``    one ``CoreV1Api.create_namespaced_pod()`` of that manifest.
             Both time from the call to the moment the pod exists: the create request's
             answer, which a separate watch confirms (the ``ADDED`` event must follow).
             Target: the plugin adds at most 50 ms at p50.
``requests`` runs whose drivers take 1, 5 and 20 s, followed as the worker does
             (``status()``, then ``wait()`` from 5 ms doubling to 2 s): API requests per
             run, counted by the backend's client. A watch keeps this flat; polling ``get``
             would grow with the run's length.

    .venv/bin/python bench/spark_kube_submit.py [--rounds 40] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

from lakeplane.interfaces import EngineHandle, Submission
from lakeplane.local import kube as local_kube
from lakeplane_spark import SparkEngine, SparkOptions, SparkParams
from lakeplane_spark.kubernetes import manifests
from lakeplane_spark.kubernetes.backend import KubernetesBackend
from lakeplane_spark.spec import decode_spec

PREFIX = "lpbench-"
SPEC = decode_spec({"application": "local:///opt/spark/work-dir/job.py"})


def params_for(kubeconfig: str, finish_ms: int) -> SparkParams:
    return SparkParams(
        backend="kubernetes",
        catalog_uri="http://seaweedfs.lakeplane-data.svc:8181",
        warehouse="s3://lake/",
        s3_endpoint="http://seaweedfs.lakeplane-data.svc:8333",
        s3_access_key_id="lakeplane",
        s3_secret_access_key="bench-secret-value-0123456789",
        namespace_prefix=PREFIX,
        spark_operator="never",
        kubeconfig=kubeconfig,
        driver_annotations={
            local_kube.START_MS_ANNOTATION: "100",
            local_kube.FINISH_MS_ANNOTATION: str(finish_ms),
        },
    )


def submission(slug: str) -> Submission:
    return Submission(
        run_id=f"run_{secrets.token_hex(5)}", attempt=1, workspace=slug, job_type="spark_batch", spec=SPEC
    )


async def bare_client(kubeconfig: str) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


class Created:
    """A separate watch of the namespace's pods: when each pod was first seen."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.seen: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from kubernetes_asyncio import watch

        core = client.CoreV1Api(self.api)
        listed = await core.list_namespaced_pod(self.namespace)
        self.ready.set()
        async with watch.Watch().stream(
            core.list_namespaced_pod, self.namespace, resource_version=listed.metadata.resource_version
        ) as stream:
            async for event in stream:
                name = event["raw_object"]["metadata"]["name"]
                self.seen.setdefault(name, time.perf_counter())

    async def wait(self, name: str) -> float:
        async with asyncio.timeout(30):
            while name not in self.seen:
                await asyncio.sleep(0.001)
        return self.seen[name]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def submit_rounds(kubeconfig: str, namespace: str, slug: str, rounds: int) -> dict[str, list[float]]:
    params = params_for(kubeconfig, 300)
    options = SparkOptions(workspace_namespaces=[namespace])
    api = await bare_client(kubeconfig)
    core = client.CoreV1Api(api)
    created = Created(await bare_client(kubeconfig), namespace)
    await created.ready.wait()
    times: dict[str, list[float]] = {"plugin": [], "bare": [], "plugin submit()": []}
    async with SparkEngine(params, options) as engine:
        for index in range(rounds + 3):  # the first rounds warm both clients up
            for way in ("plugin", "bare") if index % 2 else ("bare", "plugin"):
                sub = submission(slug)
                name = manifests.run_names(params, sub).driver_pod
                started = time.perf_counter()
                if way == "plugin":
                    await engine.submit(sub)
                    returned = time.perf_counter()
                else:
                    await core.create_namespaced_pod(
                        namespace, manifests.driver_pod_manifest(params, sub, SPEC)
                    )
                    returned = time.perf_counter()
                seen = await created.wait(name)
                if index >= 3:
                    # The pod exists once the create answered; the watch must agree it came after.
                    assert seen >= started
                    pod_at = _pod_created_at(engine, name) if way == "plugin" else returned
                    times[way].append((pod_at - started) * 1000)
                    if way == "plugin":
                        times["plugin submit()"].append((returned - started) * 1000)
                await core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    created.task.cancel()
    await api.close()
    await created.api.close()
    return times


_POD_CREATED: dict[str, float] = {}


def _pod_created_at(engine: SparkEngine, name: str) -> float:
    return _POD_CREATED.pop(name)


def _instrument_pod_creation() -> None:
    """Note when the plugin's create-pod request answers (the submit goes on with its Secret)."""
    original = client.CoreV1Api.create_namespaced_pod

    async def timed(self: Any, namespace: str, body: Any, **kwargs: Any) -> Any:
        answer = await original(self, namespace, body, **kwargs)
        _POD_CREATED[body["metadata"]["name"]] = time.perf_counter()
        return answer

    client.CoreV1Api.create_namespaced_pod = timed


async def follow(engine: SparkEngine, handle: EngineHandle) -> None:
    delay = 0.005
    while not (await engine.status(handle)).state.terminal:
        await engine.wait(handle, delay)
        delay = min(delay * 2, 2.0)


async def requests_per_run(kubeconfig: str, namespace: str, slug: str, seconds: list[int]) -> dict[int, int]:
    counts = {}
    for duration in seconds:
        params = params_for(kubeconfig, duration * 1000)
        async with SparkEngine(params, SparkOptions(workspace_namespaces=[namespace])) as engine:
            backend = engine.backend
            assert isinstance(backend, KubernetesBackend)
            handle = await engine.submit(submission(slug))
            await follow(engine, handle)
            counts[duration] = backend.api_requests
    return counts


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--kubeconfig", help="an admin kubeconfig of a running cluster")
    parser.add_argument("--durations", type=int, nargs="+", default=[1, 5, 20])
    args = parser.parse_args()
    _instrument_pod_creation()
    with tempfile.TemporaryDirectory(prefix="lakeplane-bench-kube-") as home:
        if args.kubeconfig:
            cluster = None
            kubeconfig = args.kubeconfig
        else:
            cluster = local_kube.KubeCluster(Path(home) / "cluster")
            print("starting the cluster ...", file=sys.stderr)
            await cluster.start()
            kubeconfig = str(cluster.admin_kubeconfig)
        try:
            slug = secrets.token_hex(3)
            namespace = f"{PREFIX}{slug}"
            api = await bare_client(kubeconfig)
            core = client.CoreV1Api(api)
            await core.create_namespace({"metadata": {"name": namespace}})
            for _ in range(100):
                try:
                    await core.read_namespaced_service_account("default", namespace)
                    break
                except client.exceptions.ApiException:
                    await asyncio.sleep(0.1)
            await core.create_namespaced_service_account(namespace, {"metadata": {"name": "spark-driver"}})
            times = await submit_rounds(kubeconfig, namespace, slug, args.rounds)
            counts = await requests_per_run(kubeconfig, namespace, slug, args.durations)
            await core.delete_namespace(namespace)
            await api.close()
        finally:
            if cluster is not None:
                await cluster.stop()
    load = os.getloadavg()[0]
    print(f"submit to driver pod created, {args.rounds} rounds each, load avg {load:.1f}")
    print(f"{'path':<18} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
    for way, values in times.items():
        print(f"{way:<18} {pct(values, 0.5):>8.1f} {pct(values, 0.9):>8.1f} {statistics.fmean(values):>8.1f}")
    added = pct(times["plugin"], 0.5) - pct(times["bare"], 0.5)
    ratio = pct(times["plugin"], 0.5) / pct(times["bare"], 0.5)
    print(f"added at p50: {added:.1f} ms (plugin/bare {ratio:.2f}x); target <= 50 ms")
    print("API requests per run, followed as the worker does:")
    for duration, count in counts.items():
        print(f"  driver runs {duration:>3} s: {count} requests")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
