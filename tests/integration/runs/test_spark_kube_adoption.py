"""A worker killed while its Spark driver runs on Kubernetes: another worker adopts the run
through the API server, and the run ends once, with one driver.

Real ``lakeplane worker`` processes and Postgres, the real API server of ``kube_cluster``,
and the worker's RBAC as ``charts/lakeplane`` renders it, used through a token of its
ServiceAccount. The first worker dies at a crash point (``LAKEPLANE_FAULT``): right after
the submit (the handle not stored: the rescuer finds the driver by its run label with
``list_active``) or right after storing the handle (the rescuer re-attaches and follows
the driver through its own watch).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lakeplane import config as config_module
from lakeplane.db.models import RunLog
from lakeplane.domain.connections import services as connections
from lakeplane.domain.connections.schemas import ConnectionCreate
from lakeplane.local import kube as local_kube
from lakeplane.runtime import Services
from lakeplane.testing.kube import KubeCluster, helm_binary, worker_rbac
from lakeplane.worker.faults import EXIT_CODE

from .conftest import LEASE_S, make_env

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "lpws-"
RUN_LABEL = "lakeplane.dev/run-id"


def grant_worker(cluster: KubeCluster, control: str, namespace: str) -> str:
    """Apply the chart's ServiceAccount, Role and RoleBinding for ``namespace``; the account's name."""
    objects = worker_rbac(helm_binary(ROOT), ROOT / "charts" / "lakeplane", control, namespace, PREFIX)
    cluster.apply(objects, namespace=control)
    cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "spark-driver"}},
        namespace=namespace,
    )
    (account,) = (o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount")
    return str(account)


@pytest.mark.parametrize("point", ["after_submit", "after_handle"])
async def test_a_killed_workers_spark_run_is_adopted_through_the_api_server(
    postgres_service: Any, kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path, point: str
) -> None:
    env = await make_env(postgres_service.url, tmp_path, engines={"spark": "spark"})
    async with env.lp.sessions() as db:
        from lakeplane.db.models import Workspace

        slug = (await db.scalar(select(Workspace.slug).where(Workspace.id == env.workspace_id))) or ""
    namespace = f"{PREFIX}{slug}"
    kube_cluster.create_namespace(namespace)
    try:
        account = grant_worker(kube_cluster, kube_namespace, namespace)
        kubeconfig = kube_cluster.service_account_kubeconfig(
            kube_namespace, account, tmp_path / "worker.kubeconfig"
        )
        with env.config_path.open("a") as config:
            config.write(f'[engines.spark.options]\nworkspace_namespaces = ["{namespace}"]\n')
        # The workers' own keys (the config file's), which seal the connection's secrets.
        workers_lp = Services.build(config_module.load(env.config_path))
        async with workers_lp.sessions() as db:
            conn = await connections.create(
                db,
                workers_lp,
                env.actor,
                env.workspace_id,
                ConnectionCreate(
                    name=f"spark-{secrets.token_hex(2)}",
                    kind="engine",
                    plugin="spark",
                    params={
                        "backend": "kubernetes",
                        "catalog_uri": "http://127.0.0.1:8181",
                        "warehouse": "s3://lake/",
                        "s3_endpoint": "http://127.0.0.1:8333",
                        "s3_access_key_id": "lakeplane",
                        "s3_secret_access_key": "adoption-secret-" + secrets.token_hex(8),
                        "namespace_prefix": PREFIX,
                        "spark_operator": "never",
                        "kubeconfig": str(kubeconfig),
                        # Runs until the test ends it, so the rescuer finds it running.
                        "driver_annotations": {
                            local_kube.OUTCOME_ANNOTATION: "Running",
                            local_kube.START_MS_ANNOTATION: "100",
                        },
                    },
                ),
            )
        await workers_lp.engine.dispose()
        job_id = await env.job_with(
            {"application": "local:///opt/spark/work-dir/job.py"},
            job_type="spark_batch",
            connection_id=conn.id,
            max_attempts=1,
        )
        crashing = env.start_worker("crashing", concurrency=2, fault=point)
        await crashing.ready()
        (run_id,) = await env.submit(job_id)
        assert await crashing.exited(60) == EXIT_CODE, crashing.log()[-2000:]

        selector = f"{RUN_LABEL}={run_id}"
        pods_path = f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
        (driver,) = kube_cluster.get(pods_path)["items"]

        rescuer = env.start_worker("rescuer", concurrency=2)
        await rescuer.ready()
        await env.wait_for(lambda: env.held_by([run_id], "rescuer"), 4 * LEASE_S + 30, "the rescuer to adopt")
        kube_cluster.finish_driver(namespace, driver["metadata"]["name"], "Succeeded")
        await env.wait_for(lambda: env.all_terminal([run_id]), 60, "the adopted run to end")

        (run,) = await env.runs([run_id])
        assert run.state == "succeeded", (run.state, run.reason)
        assert run.engine_handle["data"]["namespace"] == namespace
        # One driver: the rescuer followed the first one and started none of its own.
        assert [p["metadata"]["uid"] for p in kube_cluster.get(pods_path)["items"]] == [
            driver["metadata"]["uid"]
        ]
        async with env.lp.sessions() as db:
            log = "".join((await db.scalars(select(RunLog.text).where(RunLog.run_id == run_id))).all())
        expected = "by its run tag" if point == "after_submit" else "re-attached to engine work"
        assert expected in log, log
        await env.check_invariants()
    finally:
        env.stop_all()
        await env.lp.engine.dispose()
        kube_cluster.delete("v1", "Namespace", namespace)
