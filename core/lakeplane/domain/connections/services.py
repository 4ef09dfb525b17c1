"""Connections: how a workspace reaches an object store, catalog or engine.

Secret parameters (declared with :data:`lakeplane.interfaces.Secret` by the plugin)
go to the configured :class:`~lakeplane.interfaces.SecretStore` (sealed in the row by
default, or a Kubernetes Secret); the row keeps only what the store hands back. They are
never returned, and are read back only to build the plugin instance that needs them
(:func:`open_component`) and to redact them.

A store outside the database is written before the row's transaction commits and cleaned
up after it: a failed create removes what it stored, a delete removes the secrets once
the row is gone, so a crash leaves at worst an unused Secret behind, never a row whose
secrets are missing.
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

from lakeplane.db.models import Connection
from lakeplane.db.pagination import DEFAULT_LIMIT, fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionOut, ConnectionUpdate, TestResult
from lakeplane.errors import Conflict, LakeplaneError, SecretUnavailable, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.interfaces import Component, SecretStore, endpoint_fields, secret_fields
from lakeplane.plugins import Selected
from lakeplane.runtime import Services
from lakeplane.security.endpoints import check_endpoint
from lakeplane.security.redact import Redactor
from lakeplane.timeutil import elapsed_ms, utcnow


def to_out(conn: Connection | Row[Any]) -> ConnectionOut:
    return resources.to_struct(
        ConnectionOut, conn, params=dict(conn.params), secrets_set=sorted(conn.secrets)
    )


def implementation(lp: Services, kind: str, plugin: str) -> Selected:
    selected = lp.selection.for_plugin(kind, plugin)
    if selected is None:
        enabled = sorted(s.impl.name for s in lp.selection.all() if s.impl.kind == kind)
        raise ValidationFailed(
            f"plugin {plugin!r} is not enabled for {kind} (enabled: {', '.join(enabled) or 'none'})",
            [{"field": "plugin", "message": "not enabled"}],
        )
    return selected


def decode_params(selected: Selected, params: dict[str, Any]) -> msgspec.Struct:
    """Check ``params`` against the plugin's declared parameters, refusing any other key."""
    params_type: type[msgspec.Struct] = selected.impl.cls.Params
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


async def reveal(lp: Services, conn: Connection | Row[Any]) -> dict[str, str]:
    """The plaintext of the connection's secrets, from the secret store."""
    return await lp.secret_store.get(conn.id, dict(conn.secrets))


async def create(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace_id: str, data: ConnectionCreate
) -> Connection:
    selected = implementation(lp, data.kind, data.plugin)
    decode_params(selected, data.params)
    await check_endpoints(lp, selected, data.params)
    plain, secrets = _split(selected, data.params)
    conn_id = new_id("conn")
    stored = await lp.secret_store.put(conn_id, secrets, {})
    conn = Connection(
        id=conn_id,
        workspace_id=workspace_id,
        name=data.name,
        kind=data.kind,
        plugin=data.plugin,
        description=data.description,
        params=plain,
        secrets=stored,
        created_by=actor.id,
    )
    details = {"name": data.name, "plugin": data.plugin, "params": sorted(plain), "secrets": sorted(secrets)}
    try:
        await resources.insert(
            db,
            actor,
            audit.Entry.on("connection.create", conn.id, workspace_id, details=details),
            conn,
            conflict=_name_taken(data.name),
        )
    except BaseException:
        await lp.secret_store.remove(conn_id, stored)
        raise
    return conn


async def search(
    db: AsyncSession,
    workspace_id: str,
    *,
    kind: str | None = None,
    plugin: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Sequence[Row[Any]]:
    query = select_rows(Connection).where(Connection.workspace_id == workspace_id)
    if kind:
        query = query.where(Connection.kind == kind)
    if plugin:
        query = query.where(Connection.plugin == plugin)
    return await fetch_page(db, query, Connection.id, cursor, limit)


async def get(db: AsyncSession, workspace_id: str, conn_id: str, *, for_update: bool = False) -> Connection:
    return await resources.get(db, Connection, workspace_id, conn_id, "connection", for_update=for_update)


def _name_taken(name: str | None) -> str:
    return f"a connection named {name!r} already exists in this workspace"


async def update(
    db: AsyncSession,
    lp: Services,
    actor: audit.Actor,
    workspace_id: str,
    conn_id: str,
    data: ConnectionUpdate,
    if_match: str | None = None,
) -> Connection:
    try:
        async with db.begin():
            conn = await resources.locked(
                db, Connection, workspace_id, conn_id, "connection", if_match, to_out
            )
            changed: list[str] = []
            if data.params is not None:
                selected = implementation(lp, conn.kind, conn.plugin)
                plain, secrets = _split(selected, data.params)
                merged = {**conn.params, **plain, **(await reveal(lp, conn)), **secrets}
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
                conn.secrets = await lp.secret_store.put(conn.id, secrets, dict(conn.secrets))
                for key in [k for k, v in data.params.items() if v is None and k in conn.secrets]:
                    conn.secrets = await lp.secret_store.remove(conn.id, dict(conn.secrets), [key])
                    changed.append(key)
            changed += resources.apply(conn, name=data.name, description=data.description)
            conn.updated_at = utcnow()
            await db.flush()
            entry = audit.Entry.on("connection.update", conn.id, workspace_id, details={"changed": changed})
            await audit.record(db, actor, entry)
    except IntegrityError:
        raise Conflict(_name_taken(data.name)) from None
    return conn


async def delete(
    db: AsyncSession,
    lp: Services,
    actor: audit.Actor,
    workspace_id: str,
    conn_id: str,
    if_match: str | None = None,
) -> None:
    async with db.begin():
        conn = await resources.locked(db, Connection, workspace_id, conn_id, "connection", if_match, to_out)
        stored = dict(conn.secrets)
        await db.delete(conn)
        entry = audit.Entry.on("connection.delete", conn.id, workspace_id, details={"name": conn.name})
        await audit.record(db, actor, entry)
    await lp.secret_store.remove(conn_id, stored)


async def build(lp: Services, conn: Connection | Row[Any]) -> Component:
    """A plugin instance for ``conn``, with its secrets from the secret store in the params."""
    selected = implementation(lp, conn.kind, conn.plugin)
    params = decode_params(selected, {**conn.params, **(await reveal(lp, conn))})
    return selected.create(params)


@contextlib.asynccontextmanager
async def open_component(lp: Services, conn: Connection | Row[Any]) -> AsyncIterator[Component]:
    async with await build(lp, conn) as component:
        yield component


async def redactor_for(lp: Services, *conns: Connection | Row[Any]) -> Redactor:
    values = [value for conn in conns for value in (await reveal(lp, conn)).values()]
    return Redactor(values)


async def test(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace_id: str, conn_id: str
) -> TestResult:
    conn = await get(db, workspace_id, conn_id)
    await db.commit()  # end the read before the slow call; keeps loaded rows usable
    redact = await redactor_for(lp, conn)
    started = time.perf_counter()
    timeout = lp.config.security.connection_test_timeout_s
    try:
        selected = implementation(lp, conn.kind, conn.plugin)
        await check_endpoints(lp, selected, conn.params)
        async with asyncio.timeout(timeout), open_component(lp, conn) as component:
            outcome = await component.validate()
        result = TestResult(
            ok=outcome.ok,
            latency_ms=outcome.latency_ms,
            checks=[{**msgspec.to_builtins(c), "message": redact(c.message)} for c in outcome.checks],
        )
    except TimeoutError:
        result = TestResult(False, elapsed_ms(started), [], error=f"no answer within {timeout:g} s")
    except LakeplaneError as exc:
        result = TestResult(False, elapsed_ms(started), [], error=redact(exc.detail))
    except Exception as exc:  # a plugin bug must still give the user a result, not a 500
        result = TestResult(False, elapsed_ms(started), [], error=redact(f"{type(exc).__name__}: {exc}"))
    async with db.begin():
        fresh = await get(db, workspace_id, conn_id)
        fresh.last_test_ok, fresh.last_tested_at = result.ok, utcnow()
        tested = "success" if result.ok else "failure"
        await audit.record(
            db, actor, audit.Entry.on("connection.test", conn_id, workspace_id, outcome=tested)
        )
    return result


async def rotate_secrets(db: AsyncSession, lp: Services, actor: audit.Actor) -> int:
    """Store every connection's secrets again under the store's current key; returns
    connections changed (none for a store whose backing service keeps the keys)."""
    count = 0
    async with db.begin():
        for conn in (await db.scalars(select(Connection).with_for_update())).all():
            rotated = await lp.secret_store.rotate(conn.id, dict(conn.secrets))
            if rotated is None:
                continue
            conn.secrets = rotated
            count += 1
        await audit.record(
            db,
            actor,
            audit.Entry(
                "secrets.rotate",
                details={"connections": count, "key_id": lp.keyring.primary_key_id},
            ),
        )
    return count


async def migrate_secrets(db: AsyncSession, lp: Services, target: SecretStore, actor: audit.Actor) -> int:
    """Move every connection's secrets from the configured store to ``target``; returns the
    connections moved.

    Per connection: the values are written to ``target``, the row then points there and an
    audit record says so, in one transaction; only after the commit are they removed from
    the old store. Stopped at any point, each connection reads its secrets from one store
    or the other, and running it again finishes the job.
    """
    with_secrets = select(Connection.id).where(Connection.secrets != {}).order_by(Connection.id)
    moved = 0
    for conn_id in (await db.scalars(with_secrets)).all():
        await db.commit()
        async with db.begin():
            conn = await db.scalar(select(Connection).where(Connection.id == conn_id).with_for_update())
            if conn is None or not conn.secrets:
                continue
            old = dict(conn.secrets)
            try:
                values = await lp.secret_store.get(conn.id, old)
            except SecretUnavailable:
                # Moved by an earlier run that stopped before this point: already in the target.
                await target.get(conn.id, old)
                continue
            conn.secrets = await target.put(conn.id, values, {})
            await audit.record(
                db,
                actor,
                audit.Entry(
                    "secrets.migrate",
                    target_type="connection",
                    target_id=conn.id,
                    workspace_id=conn.workspace_id,
                    details={"from": lp.secret_store.name, "to": target.name, "fields": sorted(values)},
                ),
            )
        await lp.secret_store.remove(conn_id, old)
        moved += 1
    return moved
