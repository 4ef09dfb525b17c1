# Long module: every Catalog method is one pyiceberg call on the same thread-bound client, and reads best beside the others.
"""``IcebergRestCatalog``: any Iceberg REST catalog, through pyiceberg.

pyiceberg is synchronous (requests underneath), so every call that may touch the
network runs in a worker thread via :func:`anyio.to_thread.run_sync` and the event
loop never waits on it. Its requests get connect and read timeouts, which pyiceberg
does not set, so a black-holed catalog fails in seconds rather than never.

The client is built on first use rather than in ``open``: building it already talks
to the catalog (token exchange, ``GET /v1/config``), and a catalog that is down at
start-up must still let ``health`` report so instead of failing the whole service.

Where catalogs differ from the REST specification in ways a caller would notice,
this class evens them out (see :meth:`IcebergRestCatalog.list_namespaces` and
:meth:`IcebergRestCatalog.create_table`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar

import anyio.to_thread
import httpx
import msgspec
import pydantic
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.partitioning import PartitionField as IcebergPartitionField
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot as IcebergSnapshot
from pyiceberg.transforms import UnknownTransform, parse_transform
from pyiceberg.types import NestedField
from requests import PreparedRequest, Response

from lakeplane.errors import BadCredentials, Conflict, LakeplaneError, TableNotFound, ValidationFailed
from lakeplane.interfaces import (
    Catalog,
    Check,
    CheckResult,
    CheckStatus,
    Endpoint,
    NewField,
    PartitionField,
    SchemaField,
    Secret,
    Snapshot,
    TableIdent,
    TableInfo,
)
from lakeplane.interfaces.catalog import Namespace
from lakeplane.security.connect import guarded_httpx_transport
from lakeplane.security.connect_requests import GuardedHTTPAdapter
from lakeplane.timeutil import elapsed_ms
from lakeplane_iceberg_rest._errors import ErrorContext, map_errors

T = TypeVar("T")

#: Partition field ids start here, as the Iceberg specification numbers them.
_PARTITION_FIELD_ID_START = 1000


class IcebergRestParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How to reach one Iceberg REST catalog, and the object storage its data files live in.

    ``credential`` is OAuth2 client credentials (``"client_id:client_secret"``)
    exchanged for a token; ``token`` is a bearer token used as is. The ``s3_*`` fields
    let pyiceberg read and write data files when the catalog does not vend credentials.
    """

    uri: Endpoint
    warehouse: str | None = None
    credential: Secret | None = None
    token: Secret | None = None
    #: Token endpoint when it is not the catalog's own ``/v1/oauth/tokens`` (Keycloak etc.).
    oauth2_server_uri: Endpoint | None = None
    s3_endpoint: Endpoint | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: Secret | None = None
    s3_region: str = "us-east-1"
    s3_path_style: bool = True


class IcebergRestOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Platform-wide client settings, from the config file's ``catalog.options``."""

    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    read_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


class _TimeoutAdapter(GuardedHTTPAdapter):
    """An adapter that gives every request a timeout unless the caller chose one, and
    connects only where the endpoint guard allows (checked after resolution)."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)


class _TimedRestCatalog(RestCatalog):
    """pyiceberg's REST catalog, with timeouts on every request it makes."""

    def __init__(self, name: str, timeout: tuple[float, float], **properties: str) -> None:
        # Set before super().__init__, which already makes requests.
        self._lakeplane_timeout = timeout
        super().__init__(name, **properties)

    def _create_session(self) -> Any:
        session = super()._create_session()
        adapter = _TimeoutAdapter(self._lakeplane_timeout)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session


class IcebergRestCatalog(Catalog):
    """Any Iceberg REST catalog: SeaweedFS, Nessie, Polaris, Lakekeeper, Gravitino, Unity."""

    name: ClassVar[str] = "iceberg-rest"
    description: ClassVar[str] = "Iceberg REST catalog (pyiceberg)"
    Params: ClassVar[type[msgspec.Struct]] = IcebergRestParams
    Options: ClassVar[type[msgspec.Struct]] = IcebergRestOptions

    params: IcebergRestParams
    options: IcebergRestOptions

    def __init__(self, params: IcebergRestParams, options: IcebergRestOptions | None = None) -> None:
        super().__init__(params, options)
        self._client: RestCatalog | None = None
        self._client_lock = asyncio.Lock()
        self._ctx = ErrorContext(uri=params.uri, secrets=_secrets(params))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await anyio.to_thread.run_sync(client.close)

    # -- the pyiceberg client ---------------------------------------------------------

    def pyiceberg_properties(self) -> dict[str, str]:
        """The properties pyiceberg's ``RestCatalog`` is built with; they hold the secrets."""
        p = self.params
        props = {"uri": p.uri, "s3.region": p.s3_region, "s3.path-style-access": str(p.s3_path_style).lower()}
        props["s3.connect-timeout"] = str(self.options.connect_timeout_s)
        optional = {
            "warehouse": p.warehouse,
            "credential": p.credential,
            "token": p.token,
            "oauth2-server-uri": p.oauth2_server_uri,
            "s3.endpoint": p.s3_endpoint,
            "s3.access-key-id": p.s3_access_key_id,
            "s3.secret-access-key": p.s3_secret_access_key,
        }
        props.update({key: value for key, value in optional.items() if value})
        if p.credential and not p.oauth2_server_uri:
            # pyiceberg's implicit default, made explicit: relying on it is deprecated.
            props["oauth2-server-uri"] = p.uri.rstrip("/") + "/v1/oauth/tokens"
        return props

    async def pyiceberg(self) -> RestCatalog:
        """The underlying pyiceberg catalog, built on first use.

        For what the interface does not cover, such as writing data with pyarrow. Its
        methods block: call them through ``anyio.to_thread.run_sync``.
        """
        async with self._client_lock:
            if self._client is None:
                self._client = await self._build()
            return self._client

    async def _build(self) -> RestCatalog:
        timeout = (self.options.connect_timeout_s, self.options.read_timeout_s)
        build = functools.partial(_TimedRestCatalog, "lakeplane", timeout, **self.pyiceberg_properties())
        with map_errors(self._ctx, "connecting"):
            return await anyio.to_thread.run_sync(build)

    async def _run(self, subject: str, fn: Callable[[RestCatalog], T]) -> T:
        """``fn(client)`` in a worker thread, its errors mapped with ``subject`` for context."""
        client = await self.pyiceberg()
        with map_errors(self._ctx, subject):
            return await anyio.to_thread.run_sync(fn, client)

    # -- checks -----------------------------------------------------------------------

    async def health(self) -> CheckResult:
        """One authenticated request: listing the top-level namespaces."""
        started = time.perf_counter()
        t0 = time.perf_counter()
        try:
            await self.list_namespaces()
        except LakeplaneError as exc:
            check = Check("catalog", CheckStatus.FAILED, exc.detail, latency_ms=elapsed_ms(t0))
        else:
            check = Check("catalog", CheckStatus.OK, latency_ms=elapsed_ms(t0))
        return CheckResult.of([check], started)

    async def validate(self) -> CheckResult:
        """Endpoint answers ``GET /v1/config``; credentials work; the warehouse exists.

        Each step runs only if the one before passed, so the first failure is the one to
        fix. A fresh client is built, so the check sees these parameters and no cached token.
        """
        started = time.perf_counter()
        checks: list[Check] = []
        ok, failed = CheckStatus.OK, CheckStatus.FAILED

        t0 = time.perf_counter()
        reached = await self._probe_config()
        checks.append(Check("endpoint", ok if reached is None else failed, reached or "", elapsed_ms(t0)))
        if reached is not None:
            return CheckResult.of(checks, started)

        t0 = time.perf_counter()
        try:
            client = await self._build()
        except LakeplaneError as exc:
            name = "credentials" if isinstance(exc, BadCredentials) else "config"
            checks.append(Check(name, failed, exc.detail, elapsed_ms(t0)))
            return CheckResult.of(checks, started)
        try:
            t1 = time.perf_counter()
            with map_errors(self._ctx, f"warehouse {self.params.warehouse or '(default)'}"):
                namespaces = await anyio.to_thread.run_sync(client.list_namespaces)
        except BadCredentials as exc:
            checks.append(Check("credentials", failed, exc.detail, elapsed_ms(t0)))
        except LakeplaneError as exc:
            checks.append(Check("credentials", ok, latency_ms=round((t1 - t0) * 1000, 2)))
            checks.append(Check("warehouse", failed, exc.detail, elapsed_ms(t1)))
        else:
            checks.append(Check("credentials", ok, latency_ms=round((t1 - t0) * 1000, 2)))
            message = f"{len(namespaces)} top-level namespaces"
            checks.append(Check("warehouse", ok, message, elapsed_ms(t1)))
        finally:
            await anyio.to_thread.run_sync(client.close)
        return CheckResult.of(checks, started)

    async def _probe_config(self) -> str | None:
        """``None`` if ``GET /v1/config`` gets any HTTP answer, else why not."""
        url = self.params.uri.rstrip("/") + "/v1/config"
        timeout = httpx.Timeout(self.options.read_timeout_s, connect=self.options.connect_timeout_s)
        try:
            async with httpx.AsyncClient(timeout=timeout, transport=guarded_httpx_transport()) as http:
                await http.get(url)
        except httpx.HTTPError as exc:
            return f"cannot reach the catalog at {self.params.uri} ({type(exc).__name__}): check uri"
        return None

    # -- namespaces -------------------------------------------------------------------

    async def list_namespaces(self, parent: Namespace = ()) -> list[Namespace]:
        """The direct children of ``parent``, sorted.

        Some catalogs (SeaweedFS) answer with every descendant; deeper ones are dropped
        here, since the REST specification lists one level.
        """
        found = await self._run(f"namespace {_dotted(parent)}", lambda c: c.list_namespaces(parent))
        depth = len(parent) + 1
        return sorted({tuple(ns) for ns in found if len(ns) == depth and tuple(ns[: len(parent)]) == parent})

    async def create_namespace(self, namespace: Namespace, properties: dict[str, str] | None = None) -> None:
        await self._run(
            f"namespace {_dotted(namespace)}", lambda c: c.create_namespace(namespace, properties or {})
        )

    async def drop_namespace(self, namespace: Namespace) -> None:
        await self._run(f"namespace {_dotted(namespace)}", lambda c: c.drop_namespace(namespace))

    async def namespace_properties(self, namespace: Namespace) -> dict[str, str]:
        props = await self._run(
            f"namespace {_dotted(namespace)}", lambda c: c.load_namespace_properties(namespace)
        )
        return dict(props)

    # -- tables -----------------------------------------------------------------------

    async def list_tables(self, namespace: Namespace) -> list[TableIdent]:
        found = await self._run(f"namespace {_dotted(namespace)}", lambda c: c.list_tables(namespace))
        return sorted((TableIdent(tuple(ident[:-1]), ident[-1]) for ident in found), key=lambda t: t.dotted())

    async def load_table(self, ident: TableIdent) -> TableInfo:
        table = await self._run(f"table {ident.dotted()}", lambda c: c.load_table(_ident(ident)))
        return table_info(ident, table)

    async def create_table(
        self,
        ident: TableIdent,
        fields: list[NewField],
        partition_by: list[PartitionField] | None = None,
        properties: dict[str, str] | None = None,
    ) -> TableInfo:
        """Create the table; :class:`Conflict` if it exists.

        The existence check comes first because some catalogs (SeaweedFS) answer a
        duplicate create with the existing table instead of 409; a table created by
        someone else between the check and the create is still reported by catalogs
        that follow the specification.
        """
        schema = build_schema(fields)
        spec = build_partition_spec(schema, partition_by or [])
        if await self.table_exists(ident):
            raise Conflict(f"table {ident.dotted()}: already exists")
        table = await self._run(
            f"table {ident.dotted()}",
            lambda c: c.create_table(
                _ident(ident), schema=schema, partition_spec=spec, properties=properties or {}
            ),
        )
        return table_info(ident, table)

    async def drop_table(self, ident: TableIdent, purge: bool = False) -> None:
        def drop(client: RestCatalog) -> None:
            if purge:
                client.purge_table(_ident(ident))
            else:
                client.drop_table(_ident(ident))

        await self._run(f"table {ident.dotted()}", drop)

    async def update_properties(
        self, ident: TableIdent, updates: dict[str, str], removals: list[str] | None = None
    ) -> dict[str, str]:
        def update(client: RestCatalog) -> dict[str, str]:
            table = client.load_table(_ident(ident))
            with table.transaction() as tx:
                if updates:
                    tx.set_properties(updates)
                if removals:
                    tx.remove_properties(*removals)
            return dict(table.properties)

        return await self._run(f"table {ident.dotted()}", update)

    async def table_exists(self, ident: TableIdent) -> bool:
        try:
            await self._run(f"table {ident.dotted()}", lambda c: c.load_table(_ident(ident)))
        except TableNotFound:
            return False
        return True


# -- conversions between the interface's structs and pyiceberg's ------------------------


def build_schema(fields: list[NewField]) -> Schema:
    """An Iceberg schema from column definitions; :class:`ValidationFailed` names the bad column."""
    if not fields:
        raise ValidationFailed("a table needs at least one column")
    seen: set[str] = set()
    columns = []
    for field_id, field in enumerate(fields, start=1):
        if field.name in seen:
            raise ValidationFailed(f"column {field.name!r} is defined twice")
        seen.add(field.name)
        try:
            column = NestedField.model_validate(
                {"id": field_id, "name": field.name, "type": field.type, "required": field.required}
            )
        except pydantic.ValidationError:
            raise ValidationFailed(
                f"column {field.name!r}: unknown type {field.type!r}; use an Iceberg primitive type "
                "such as boolean, int, long, double, decimal(10, 2), string, date, timestamptz"
            ) from None
        columns.append(column)
    return Schema(*columns)


def build_partition_spec(schema: Schema, partition_by: list[PartitionField]) -> PartitionSpec:
    """A partition spec over ``schema``; :class:`ValidationFailed` names the bad partition field."""
    fields = []
    for offset, wanted in enumerate(partition_by):
        source = schema.find_field(wanted.source_field) if wanted.source_field in _names(schema) else None
        if source is None:
            raise ValidationFailed(f"partition {wanted.name!r}: no column {wanted.source_field!r}")
        try:
            transform = parse_transform(wanted.transform)
        except ValueError:
            transform = UnknownTransform(wanted.transform)
        if isinstance(transform, UnknownTransform) or not transform.can_transform(source.field_type):
            raise ValidationFailed(
                f"partition {wanted.name!r}: transform {wanted.transform!r} does not apply to "
                f"column {source.name!r} of type {source.field_type}; use identity, year, month, day, "
                "hour, bucket[N] or truncate[N] as the type allows"
            )
        fields.append(
            IcebergPartitionField(
                source_id=source.field_id,
                field_id=_PARTITION_FIELD_ID_START + offset,
                transform=transform,
                name=wanted.name,
            )
        )
    return PartitionSpec(*fields)


def table_info(ident: TableIdent, table: Table) -> TableInfo:
    """The interface's view of a pyiceberg table."""
    metadata = table.metadata
    schema = table.schema()
    return TableInfo(
        ident=ident,
        location=table.location(),
        schema=[
            SchemaField(id=f.field_id, name=f.name, type=str(f.field_type), required=f.required, doc=f.doc)
            for f in schema.fields
        ],
        partition_spec=[
            PartitionField(
                source_field=schema.find_column_name(pf.source_id) or str(pf.source_id),
                transform=str(pf.transform),
                name=pf.name,
            )
            for pf in table.spec().fields
        ],
        properties=dict(table.properties),
        snapshots=[_snapshot(s) for s in metadata.snapshots],
        current_snapshot_id=metadata.current_snapshot_id,
        format_version=metadata.format_version,
    )


def _snapshot(snapshot: IcebergSnapshot) -> Snapshot:
    summary = snapshot.summary
    return Snapshot(
        snapshot_id=snapshot.snapshot_id,
        timestamp=dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC),
        operation=summary.operation.value if summary is not None else None,
        parent_id=snapshot.parent_snapshot_id,
        summary={str(k): str(v) for k, v in summary.additional_properties.items()} if summary else {},
    )


def _names(schema: Schema) -> set[str]:
    return {f.name for f in schema.fields}


def _ident(ident: TableIdent) -> tuple[str, ...]:
    return (*ident.namespace, ident.name)


def _dotted(namespace: Namespace) -> str:
    return ".".join(namespace) or "(root)"


def _secrets(params: IcebergRestParams) -> tuple[str, ...]:
    values = [params.credential, params.token, params.s3_secret_access_key]
    if params.credential and ":" in params.credential:
        values.append(params.credential.split(":", 1)[1])
    return tuple(v for v in values if v)
