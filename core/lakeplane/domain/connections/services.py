"""Connections: how a workspace reaches an object store, catalog or engine.

Secret parameters (declared with :data:`lakeplane.interfaces.Secret` by the plugin)
are encrypted before they are stored, are never returned, and are decrypted only
to build the plugin instance that needs them (:func:`open_component`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane import audit
from lakeplane.db.models import Connection
from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionOut, ConnectionUpdate, TestResult
from lakeplane.errors import Conflict, LakeplaneError, NotFound, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.interfaces import Component, endpoint_fields, secret_fields
from lakeplane.plugins import Selected
from lakeplane.security.endpoints import check_endpoint
from lakeplane.security.redact import Redactor
from lakeplane.timeutil import utcnow
from lakeplane.web.pagination import fetch_page, select_rows
from lakeplane.web.state import Services


def to_out(conn: Connection | Row[Any]) -> ConnectionOut:
    return ConnectionOut(
        id=conn.id,
        workspace_id=conn.workspace_id,
        name=conn.name,
        role=conn.role,
        plugin=conn.plugin,
        description=conn.description,
        params=dict(conn.params),
        secrets_set=sorted(conn.secrets),
        last_test_ok=conn.last_test_ok,
        last_tested_at=conn.last_tested_at,
        created_at=conn.created_at,
        updated_at=conn.updated_at,
    )


def implementation(lp: Services, role: str, plugin: str) -> Selected:
    selected = lp.selection.for_plugin(role, plugin)
    if selected is None:
        enabled = sorted(s.impl.name for s in lp.selection.all() if s.impl.role == role)
        raise ValidationFailed(
            f"plugin {plugin!r} is not enabled for {role} (enabled: {', '.join(enabled) or 'none'})",
            [{"field": "plugin", "message": "not enabled"}],
        )
    return selected


def decode_params(selected: Selected, params: dict[str, Any]) -> msgspec.Struct:
    """Check ``params`` against the plugin's declared parameters, refusing any other key."""
    params_type = selected.impl.cls.Params
    declared = set(params_type.__struct_fields__)
    unknown = sorted(set(params) - declared)
    if unknown:
        raise ValidationFailed(
            f"unknown parameter(s) for {selected.impl.name}: {', '.join(unknown)}",
            [{"field": f"params.{k}", "message": "not a parameter of this plugin"} for k in unknown],
        )
    try:
        return msgspec.convert(params, params_type)
    except msgspec.ValidationError as exc:
        message = str(exc).replace("`", "").replace("$.", "params.").replace(" - at $", "")
        raise ValidationFailed(
            f"invalid parameters: {message}", [{"field": "params", "message": message}]
        ) from None


async def check_endpoints(lp: Services, selected: Selected, params: dict[str, Any]) -> None:
    for field in endpoint_fields(selected.impl.cls.Params):
        value = params.get(field)
        if isinstance(value, str) and value:
            await asyncio.to_thread(
                check_endpoint, f"params.{field}", value, lp.config.security.allowed_endpoints
            )


def _split(selected: Selected, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    secret_names = secret_fields(selected.impl.cls.Params)
    plain = {k: v for k, v in params.items() if k not in secret_names}
    secrets = {k: v for k, v in params.items() if k in secret_names and v is not None}
    for key, value in secrets.items():
        if not isinstance(value, str):
            raise ValidationFailed(
                f"params.{key} must be a string", [{"field": f"params.{key}", "message": "expected str"}]
            )
    return plain, secrets


def _seal(lp: Services, conn_id: str, secrets: dict[str, str]) -> dict[str, Any]:
    return {k: lp.keyring.encrypt(v, f"{conn_id}/{k}") for k, v in secrets.items()}


def reveal(lp: Services, conn: Connection | Row[Any]) -> dict[str, str]:
    return {k: lp.keyring.decrypt(env, f"{conn.id}/{k}") for k, env in conn.secrets.items()}


async def create(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace_id: str, data: ConnectionCreate
) -> Connection:
    selected = implementation(lp, data.role, data.plugin)
    decode_params(selected, data.params)
    await check_endpoints(lp, selected, data.params)
    plain, secrets = _split(selected, data.params)
    conn_id = new_id("conn")
    conn = Connection(
        id=conn_id,
        workspace_id=workspace_id,
        name=data.name,
        role=data.role,
        plugin=data.plugin,
        description=data.description,
        params=plain,
        secrets=_seal(lp, conn_id, secrets),
        created_by=actor.id,
    )
    try:
        async with db.begin():
            db.add(conn)
            await db.flush()
            await audit.record(
                db,
                actor,
                "connection.create",
                target_type="connection",
                target_id=conn.id,
                workspace_id=workspace_id,
                details={
                    "name": data.name,
                    "plugin": data.plugin,
                    "params": sorted(plain),
                    "secrets": sorted(secrets),
                },
            )
    except IntegrityError:
        raise Conflict(f"a connection named {data.name!r} already exists in this workspace") from None
    return conn


async def search(
    db: AsyncSession,
    workspace_id: str,
    *,
    role: str | None = None,
    plugin: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Sequence[Row[Any]]:
    query = select_rows(Connection).where(Connection.workspace_id == workspace_id)
    if role:
        query = query.where(Connection.role == role)
    if plugin:
        query = query.where(Connection.plugin == plugin)
    return await fetch_page(db, query, Connection.id, cursor, limit)


async def get(db: AsyncSession, workspace_id: str, conn_id: str) -> Connection:
    conn = await db.scalar(
        select(Connection).where(Connection.id == conn_id, Connection.workspace_id == workspace_id)
    )
    if conn is None:
        raise NotFound(f"connection {conn_id!r} not found in this workspace")
    return conn


async def update(
    db: AsyncSession,
    lp: Services,
    actor: audit.Actor,
    workspace_id: str,
    conn_id: str,
    data: ConnectionUpdate,
) -> Connection:
    try:
        async with db.begin():
            conn = await get(db, workspace_id, conn_id)
            changed: list[str] = []
            if data.params is not None:
                selected = implementation(lp, conn.role, conn.plugin)
                plain, secrets = _split(selected, data.params)
                merged = {**conn.params, **plain, **reveal(lp, conn), **secrets}
                merged = {k: v for k, v in merged.items() if v is not None}
                decode_params(selected, merged)
                await check_endpoints(lp, selected, merged)
                new_plain = {
                    k: v for k, v in merged.items() if k not in secret_fields(selected.impl.cls.Params)
                }
                changed += sorted(
                    k for k in set(conn.params) | set(new_plain) if conn.params.get(k) != new_plain.get(k)
                )
                changed += sorted(secrets)
                conn.params = new_plain
                conn.secrets = {**conn.secrets, **_seal(lp, conn.id, secrets)}
                for key in [k for k, v in data.params.items() if v is None and k in conn.secrets]:
                    conn.secrets = {k: v for k, v in conn.secrets.items() if k != key}
                    changed.append(key)
            if data.name is not None and data.name != conn.name:
                conn.name, changed = data.name, [*changed, "name"]
            if data.description is not None and data.description != conn.description:
                conn.description, changed = data.description, [*changed, "description"]
            conn.updated_at = utcnow()
            await db.flush()
            await audit.record(
                db,
                actor,
                "connection.update",
                target_type="connection",
                target_id=conn.id,
                workspace_id=workspace_id,
                details={"changed": changed},
            )
    except IntegrityError:
        raise Conflict(f"a connection named {data.name!r} already exists in this workspace") from None
    return conn


async def delete(db: AsyncSession, actor: audit.Actor, workspace_id: str, conn_id: str) -> None:
    async with db.begin():
        conn = await get(db, workspace_id, conn_id)
        await db.delete(conn)
        await audit.record(
            db,
            actor,
            "connection.delete",
            target_type="connection",
            target_id=conn.id,
            workspace_id=workspace_id,
            details={"name": conn.name},
        )


def build(lp: Services, conn: Connection | Row[Any]) -> Component:
    """A plugin instance for ``conn``, with its secrets decrypted into the params."""
    selected = implementation(lp, conn.role, conn.plugin)
    params = decode_params(selected, {**conn.params, **reveal(lp, conn)})
    return selected.create(params)


@contextlib.asynccontextmanager
async def open_component(lp: Services, conn: Connection | Row[Any]) -> AsyncIterator[Component]:
    async with build(lp, conn) as component:
        yield component


def redactor_for(lp: Services, *conns: Connection) -> Redactor:
    return Redactor(value for conn in conns for value in reveal(lp, conn).values())


async def test(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace_id: str, conn_id: str
) -> TestResult:
    conn = await get(db, workspace_id, conn_id)
    await db.commit()  # end the read before the slow call; keeps loaded rows usable
    redact = redactor_for(lp, conn)
    started = time.perf_counter()
    timeout = lp.config.security.connection_test_timeout_s
    try:
        selected = implementation(lp, conn.role, conn.plugin)
        await check_endpoints(lp, selected, conn.params)
        async with asyncio.timeout(timeout), open_component(lp, conn) as component:
            outcome = await component.validate()
        result = TestResult(
            ok=outcome.ok,
            latency_ms=outcome.latency_ms,
            checks=[{**msgspec.to_builtins(c), "message": redact(c.message)} for c in outcome.checks],
        )
    except TimeoutError:
        result = TestResult(False, _ms(started), [], error=f"no answer within {timeout:g} s")
    except LakeplaneError as exc:
        result = TestResult(False, _ms(started), [], error=redact(exc.detail))
    except Exception as exc:  # a plugin bug must still give the user a result, not a 500
        result = TestResult(False, _ms(started), [], error=redact(f"{type(exc).__name__}: {exc}"))
    async with db.begin():
        fresh = await get(db, workspace_id, conn_id)
        fresh.last_test_ok, fresh.last_tested_at = result.ok, utcnow()
        await audit.record(
            db,
            actor,
            "connection.test",
            target_type="connection",
            target_id=conn_id,
            workspace_id=workspace_id,
            outcome="success" if result.ok else "failure",
        )
    return result


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def rotate_secrets(db: AsyncSession, lp: Services, actor: audit.Actor) -> int:
    """Re-encrypt every stored secret with the primary key; returns connections changed."""
    count = 0
    async with db.begin():
        for conn in (await db.scalars(select(Connection).with_for_update())).all():
            if not any(lp.keyring.needs_rotation(env) for env in conn.secrets.values()):
                continue
            conn.secrets = _seal(lp, conn.id, reveal(lp, conn))
            count += 1
        await audit.record(
            db, actor, "secrets.rotate", details={"connections": count, "key_id": lp.keyring.primary_key_id}
        )
    return count
