"""Connection secrets go through the store the config picks, on the real Postgres; and
``lakeplane secrets migrate`` moves them between stores with an audit record each.

The Kubernetes half uses the real API server of ``kube_cluster`` and the
``lakeplane-plugin-kubernetes-secrets`` store.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lakeplane.db.models import AuditEvent, Connection, Workspace
from lakeplane.domain import audit
from lakeplane.domain.connections import services as connections
from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionUpdate
from lakeplane.ids import new_id
from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config
from lakeplane.testing.kube import KubeCluster

SECRET = "s3-secret-" + secrets.token_hex(12)
ACTOR = audit.Actor.system("test")


@dataclasses.dataclass
class Env:
    lp: Services
    workspace_id: str


@pytest.fixture
async def env(postgres_service: Any) -> AsyncIterator[Env]:
    url = await create_database(postgres_service.url, prefix="lp_secrets")
    lp = Services.build(make_config(url, security={"allowed_endpoints": ["127.0.0.1"]}))
    workspace_id = new_id("ws")
    async with lp.sessions() as db, db.begin():
        db.add(Workspace(id=workspace_id, slug=f"sec-{secrets.token_hex(3)}", name="secrets"))
    yield Env(lp, workspace_id)
    await lp.engine.dispose()


async def create_s3_connection(env: Env, lp: Services | None = None) -> Connection:
    params = {"endpoint_url": "http://127.0.0.1:9", "access_key_id": "lakeplane", "secret_access_key": SECRET}
    data = ConnectionCreate(
        name=f"s3-{secrets.token_hex(3)}", kind="object_store", plugin="s3", params=params
    )
    async with (lp or env.lp).sessions() as db:
        return await connections.create(db, lp or env.lp, ACTOR, env.workspace_id, data)


async def row(lp: Services, conn_id: str) -> Connection:
    async with lp.sessions() as db:
        found = await db.scalar(select(Connection).where(Connection.id == conn_id))
        assert found is not None
        return found


async def test_the_database_store_seals_secrets_in_the_row(env: Env) -> None:
    assert env.lp.secret_store.name == "database"
    conn = await create_s3_connection(env)
    stored = await row(env.lp, conn.id)
    assert set(stored.secrets) == {"secret_access_key"}
    assert stored.secrets["secret_access_key"]["k"] == "k1"
    assert SECRET not in json.dumps(stored.secrets)
    component = await connections.build(env.lp, stored)
    assert component.params.secret_access_key == SECRET
    async with env.lp.sessions() as db:
        update = ConnectionUpdate(params={"secret_access_key": "rotated-" + SECRET})
        await connections.update(db, env.lp, ACTOR, env.workspace_id, conn.id, update)
    assert (await connections.reveal(env.lp, await row(env.lp, conn.id))) == {
        "secret_access_key": "rotated-" + SECRET
    }


@pytest.mark.kube
async def test_the_kubernetes_store_chosen_by_config_and_migrate_both_ways(
    env: Env, kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    from lakeplane.plugins import select as select_plugins

    kubeconfig = kube_cluster.admin_kubeconfig
    options = {"namespace": kube_namespace, "kubeconfig": str(kubeconfig)}
    config = make_config(
        env.lp.config.database.url,
        security={
            "allowed_endpoints": ["127.0.0.1"],
            "session_key": env.lp.config.security.session_key,
            "encryption_keys": env.lp.config.security.encryption_keys,
        },
        secret_store={"plugin": "kubernetes", "options": options},
    )
    selection = select_plugins(config, env.lp.plugins.registry)
    store = selection.secret_store.impl.cls(selection.secret_store.options, env.lp.keyring)
    assert store.name == "kubernetes"
    in_kube = dataclasses.replace(env.lp, config=config, selection=selection, secret_store=store)

    made_in_kube = await create_s3_connection(env, in_kube)
    refs = (await row(env.lp, made_in_kube.id)).secrets
    assert refs["secret_access_key"]["namespace"] == kube_namespace
    assert SECRET not in json.dumps(refs)
    assert (await connections.reveal(in_kube, made_in_kube))["secret_access_key"] == SECRET

    # Database -> Kubernetes: the database store's connection moves; the one already kept in
    # Kubernetes is recognised there and left alone.
    made_in_db = await create_s3_connection(env)
    async with env.lp.sessions() as db:
        moved = await connections.migrate_secrets(db, env.lp, store, ACTOR)
    assert moved == 1
    assert (await row(env.lp, made_in_kube.id)).secrets == refs
    async with env.lp.sessions() as db:  # again: nothing left to move
        assert await connections.migrate_secrets(db, env.lp, store, ACTOR) == 0
    moved_row = await row(env.lp, made_in_db.id)
    assert moved_row.secrets["secret_access_key"]["store"] == "kubernetes"
    assert (await connections.reveal(in_kube, moved_row))["secret_access_key"] == SECRET
    secret_name = moved_row.secrets["secret_access_key"]["secret"]
    assert kube_cluster.get(f"/api/v1/namespaces/{kube_namespace}/secrets/{secret_name}")["data"]

    # And back: the Secret is removed once the row points at the database again.
    async with in_kube.sessions() as db:
        assert await connections.migrate_secrets(db, in_kube, env.lp.secret_store, ACTOR) == 2
    back = await row(env.lp, made_in_db.id)
    assert back.secrets["secret_access_key"]["k"] == "k1"
    assert (await connections.reveal(env.lp, back))["secret_access_key"] == SECRET
    gone = kube_cluster.request("GET", f"/api/v1/namespaces/{kube_namespace}/secrets/{secret_name}")
    assert gone.status_code == 404
    async with env.lp.sessions() as db:
        events = (await db.scalars(select(AuditEvent).where(AuditEvent.action == "secrets.migrate"))).all()
    assert sorted(e.target_id for e in events) == sorted([made_in_db.id, made_in_db.id, made_in_kube.id])
    assert SECRET not in json.dumps([e.details for e in events])
