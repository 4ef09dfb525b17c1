"""The contract every :class:`~lakeplane.interfaces.Catalog` keeps, run against a real catalog.

Subclass :class:`CatalogContract` and provide, on the session event loop:

``catalog``
    an opened catalog with working parameters;
``catalog_bad_credentials``
    the same catalog with wrong credentials (``pytest.skip`` if it has no authentication);
``catalog_unreachable``
    an endpoint where nothing listens (see :func:`~lakeplane.testing.contracts.unreachable_url`);
``append_rows``
    an :data:`AppendRows`: the interface has no write path, yet snapshots and row counts
    can only be checked after data lands, so the plugin says how it writes (for an
    Iceberg catalog, pyiceberg and pyarrow against the catalog's own storage).

``namespace`` (a fresh namespace, emptied and dropped afterwards) is provided here.
Names are lowercase ASCII with underscores: the one form every catalog accepts (S3
Tables allows no more).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeplane.domain.datasets.services import table_summary
from lakeplane.errors import (
    BadCredentials,
    Conflict,
    NotFound,
    TableNotFound,
    ValidationFailed,
)
from lakeplane.interfaces import Catalog, NewField, PartitionField, TableIdent, TableInfo
from lakeplane.interfaces.catalog import Namespace
from lakeplane.testing.contracts._support import (
    assert_checks_fail,
    assert_checks_pass,
    assert_no_secrets,
    assert_unreachable,
)

#: Writes ``rows`` (column name to value) to the table as one new snapshot.
AppendRows = Callable[[TableIdent, list[dict[str, Any]]], Awaitable[None]]

EVENT_FIELDS = [
    NewField("id", "long", required=True),
    NewField("ts", "timestamptz"),
    NewField("category", "string"),
    NewField("amount", "decimal(12, 2)"),
    NewField("ok", "boolean"),
    NewField("day", "date"),
    NewField("score", "double"),
]
EVENT_PARTITIONS = [
    PartitionField("ts", "day", "ts_day"),
    PartitionField("category", "identity", "category"),
    PartitionField("id", "bucket[8]", "id_bucket"),
]


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _type(name: str) -> str:
    """Type names compared without spaces: ``decimal(12, 2)`` and ``decimal(12,2)`` are one type."""
    return name.replace(" ", "").lower()


#: A contract test runs once per subclass, each with its own ``self`` ("differing
#: executors"), and its fixtures are set up once for all of a test's examples; each
#: example makes its own names, so neither matters here.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors, HealthCheck.too_slow]


class CatalogContract:
    """Behaviour every catalog plugin must show. See the module docstring for fixtures."""

    pytestmark: ClassVar = [pytest.mark.asyncio(loop_scope="session")]

    #: An unreachable endpoint must fail within this many seconds, retries included.
    unreachable_within_s: ClassVar[float] = 15.0
    #: Whether a table's metadata lists every snapshot and links each to its parent.
    #: Nessie keeps history in its own commit log and serves only the current snapshot,
    #: without a parent id; then only the current snapshot and its row count are checked.
    keeps_snapshot_history: ClassVar[bool] = True

    @pytest_asyncio.fixture(loop_scope="session")
    async def namespace(self, catalog: Catalog) -> AsyncIterator[Namespace]:
        namespace = (_unique("lp_contract"),)
        await catalog.create_namespace(namespace)
        yield namespace
        await _drop_namespace_tree(catalog, namespace)

    async def _create_events(self, catalog: Catalog, namespace: Namespace, name: str = "events") -> TableInfo:
        return await catalog.create_table(
            TableIdent(namespace, name),
            EVENT_FIELDS,
            partition_by=EVENT_PARTITIONS,
            properties={"lakeplane.owner": "ana", "comment": "événements"},
        )

    # -- namespaces --------------------------------------------------------------------

    async def test_namespace_lifecycle(self, catalog: Catalog) -> None:
        namespace = (_unique("lp_contract_ns"),)
        properties = {"owner": "lakeplane", "comment": "ünïcode ✓"}
        await catalog.create_namespace(namespace, properties)
        try:
            assert namespace in await catalog.list_namespaces()
            stored = await catalog.namespace_properties(namespace)
            assert stored.items() >= properties.items()
            with pytest.raises(Conflict):
                await catalog.create_namespace(namespace)
        finally:
            await catalog.drop_namespace(namespace)
        assert namespace not in await catalog.list_namespaces()
        with pytest.raises(NotFound):
            await catalog.namespace_properties(namespace)
        with pytest.raises(NotFound):
            await catalog.drop_namespace(namespace)

    async def test_namespaces_are_listed_under_their_parent_only(
        self, catalog: Catalog, namespace: Namespace
    ) -> None:
        child = (*namespace, "child")
        await catalog.create_namespace(child)
        try:
            assert await catalog.list_namespaces(namespace) == [child]
            top = await catalog.list_namespaces()
            assert namespace in top
            assert child not in top
            assert all(len(ns) == 1 for ns in top)
        finally:
            await catalog.drop_namespace(child)

    async def test_dropping_a_namespace_with_tables_is_a_conflict(
        self, catalog: Catalog, namespace: Namespace
    ) -> None:
        await catalog.create_table(TableIdent(namespace, "t"), [NewField("a", "int")])
        with pytest.raises(Conflict):
            await catalog.drop_namespace(namespace)
        assert namespace in await catalog.list_namespaces()

    # -- tables ------------------------------------------------------------------------

    async def test_create_table_round_trips_schema_partitions_and_properties(
        self, catalog: Catalog, namespace: Namespace
    ) -> None:
        created = await self._create_events(catalog, namespace)
        loaded = await catalog.load_table(TableIdent(namespace, "events"))
        for info in (created, loaded):
            assert info.ident == TableIdent(namespace, "events")
            assert [(f.name, _type(f.type), f.required) for f in info.schema] == [
                (f.name, _type(f.type), f.required) for f in EVENT_FIELDS
            ]
            assert len({f.id for f in info.schema}) == len(EVENT_FIELDS)
            assert [(p.source_field, p.transform, p.name) for p in info.partition_spec] == [
                (p.source_field, p.transform, p.name) for p in EVENT_PARTITIONS
            ]
            assert info.properties.items() >= {"lakeplane.owner": "ana", "comment": "événements"}.items()
            assert info.location
            assert info.snapshots == []
            assert info.current_snapshot is None
            assert info.format_version >= 1
        assert table_summary(loaded)["row_count"] == 0

    async def test_list_tables(self, catalog: Catalog, namespace: Namespace) -> None:
        assert await catalog.list_tables(namespace) == []
        for name in ("b_table", "a_table"):
            await catalog.create_table(TableIdent(namespace, name), [NewField("x", "string")])
        assert sorted(t.name for t in await catalog.list_tables(namespace)) == ["a_table", "b_table"]
        assert all(t.namespace == namespace for t in await catalog.list_tables(namespace))

    async def test_appends_make_snapshots_with_row_counts(
        self, catalog: Catalog, namespace: Namespace, append_rows: AppendRows
    ) -> None:
        await self._create_events(catalog, namespace)
        ident = TableIdent(namespace, "events")
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"id": i, "ts": now, "category": "abc"[i % 3], "ok": i % 2 == 0, "score": i / 3}
            for i in range(10)
        ]
        await append_rows(ident, rows)
        first = await catalog.load_table(ident)
        assert len(first.snapshots) == 1
        snapshot = first.current_snapshot
        assert snapshot is not None
        assert snapshot.operation == "append"
        assert snapshot.total_records == 10
        assert snapshot.timestamp.tzinfo is not None
        assert abs((snapshot.timestamp - now).total_seconds()) < 600
        assert table_summary(first)["row_count"] == 10

        await append_rows(ident, rows[:4])
        second = await catalog.load_table(ident)
        latest = second.current_snapshot
        assert latest is not None
        assert latest.snapshot_id != snapshot.snapshot_id
        if self.keeps_snapshot_history:
            assert latest.parent_id == snapshot.snapshot_id
            assert [s.snapshot_id for s in second.snapshots] == [snapshot.snapshot_id, latest.snapshot_id]
        assert latest.total_records == 14
        assert latest.timestamp >= snapshot.timestamp

    async def test_update_properties_sets_and_removes(self, catalog: Catalog, namespace: Namespace) -> None:
        ident = TableIdent(namespace, "props")
        await catalog.create_table(ident, [NewField("x", "int")], properties={"keep": "1", "drop": "2"})
        result = await catalog.update_properties(ident, {"new": "3", "keep": "one"}, removals=["drop"])
        assert result.items() >= {"keep": "one", "new": "3"}.items()
        assert "drop" not in result
        stored = (await catalog.load_table(ident)).properties
        assert stored.items() >= {"keep": "one", "new": "3"}.items()
        assert "drop" not in stored

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=_SUPPRESSED,
    )
    @given(value=st.text(st.characters(codec="utf-8"), max_size=200))
    async def test_any_property_value_round_trips(
        self, catalog: Catalog, namespace: Namespace, value: str
    ) -> None:
        ident = TableIdent(namespace, "hyp_props")
        if not await catalog.table_exists(ident):
            await catalog.create_table(ident, [NewField("x", "int")])
        await catalog.update_properties(ident, {"lakeplane.note": value})
        assert (await catalog.load_table(ident)).properties["lakeplane.note"] == value

    async def test_missing_table_is_table_not_found(self, catalog: Catalog, namespace: Namespace) -> None:
        for ident in (TableIdent(namespace, "no_such_table"), TableIdent(("no_such_ns_x",), "t")):
            with pytest.raises(TableNotFound):
                await catalog.load_table(ident)
            assert not await catalog.table_exists(ident)
        with pytest.raises(TableNotFound):
            await catalog.drop_table(TableIdent(namespace, "no_such_table"))
        with pytest.raises(TableNotFound):
            await catalog.update_properties(TableIdent(namespace, "no_such_table"), {"a": "b"})

    async def test_missing_namespace_is_not_found(self, catalog: Catalog) -> None:
        missing = (_unique("lp_missing"),)
        with pytest.raises(NotFound):
            await catalog.namespace_properties(missing)
        with pytest.raises(NotFound):
            await catalog.drop_namespace(missing)
        with pytest.raises(NotFound):
            await catalog.create_table(TableIdent(missing, "t"), [NewField("x", "int")])

    async def test_duplicate_table_is_a_conflict(self, catalog: Catalog, namespace: Namespace) -> None:
        await self._create_events(catalog, namespace)
        with pytest.raises(Conflict):
            await catalog.create_table(TableIdent(namespace, "events"), [NewField("other", "string")])
        kept = await catalog.load_table(TableIdent(namespace, "events"))
        assert [f.name for f in kept.schema] == [f.name for f in EVENT_FIELDS]

    async def test_drop_table_with_and_without_purge(
        self, catalog: Catalog, namespace: Namespace, append_rows: AppendRows
    ) -> None:
        kept_files = TableIdent(namespace, "dropped")
        purged = TableIdent(namespace, "purged")
        for ident in (kept_files, purged):
            await catalog.create_table(ident, [NewField("id", "long", required=True)])
            await append_rows(ident, [{"id": 1}, {"id": 2}])
        await catalog.drop_table(kept_files)
        await catalog.drop_table(purged, purge=True)
        for ident in (kept_files, purged):
            assert not await catalog.table_exists(ident)
        assert await catalog.list_tables(namespace) == []

    async def test_invalid_definitions_are_validation_failed(
        self, catalog: Catalog, namespace: Namespace
    ) -> None:
        ident = TableIdent(namespace, "invalid")
        bad_definitions: list[tuple[list[NewField], list[PartitionField]]] = [
            ([NewField("x", "lonng")], []),
            ([NewField("x", "long")], [PartitionField("nope", "identity", "nope")]),
            ([NewField("x", "long")], [PartitionField("x", "fortnight", "x_f")]),
            ([NewField("x", "long"), NewField("x", "string")], []),
        ]
        for fields, partitions in bad_definitions:
            with pytest.raises(ValidationFailed):
                await catalog.create_table(ident, fields, partition_by=partitions)
        assert not await catalog.table_exists(ident)

    # -- health, validation and failures ------------------------------------------------

    async def test_health_and_validate_pass(self, catalog: Catalog) -> None:
        await assert_checks_pass(catalog)

    async def test_bad_credentials_are_bad_credentials_without_the_secret(
        self, catalog_bad_credentials: Catalog
    ) -> None:
        catalog = catalog_bad_credentials
        with pytest.raises(BadCredentials) as raised:
            await catalog.list_namespaces()
        assert_no_secrets(catalog, raised.value)
        await assert_checks_fail(catalog)

    async def test_unreachable_catalog_is_upstream_error_quickly(self, catalog_unreachable: Catalog) -> None:
        catalog = catalog_unreachable
        await assert_unreachable(catalog, catalog.list_namespaces, self.unreachable_within_s)


async def _drop_namespace_tree(catalog: Catalog, namespace: Namespace) -> None:
    """Drop ``namespace`` with its tables and child namespaces; what is already gone is fine."""
    try:
        for child in await catalog.list_namespaces(namespace):
            await _drop_namespace_tree(catalog, child)
        for table in await catalog.list_tables(namespace):
            await catalog.drop_table(table, purge=True)
        await catalog.drop_namespace(namespace)
    except NotFound:
        pass
