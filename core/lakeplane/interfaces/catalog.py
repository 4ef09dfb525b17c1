"""Table catalogs: Iceberg namespaces, tables, schemas and snapshots."""

from __future__ import annotations

import abc
import datetime as dt
from typing import ClassVar

import msgspec

from lakeplane.interfaces.base import Component

Namespace = tuple[str, ...]


class TableIdent(msgspec.Struct, frozen=True):
    namespace: Namespace
    name: str

    def dotted(self) -> str:
        return ".".join((*self.namespace, self.name))


class SchemaField(msgspec.Struct):
    id: int
    name: str
    type: str
    required: bool = False
    doc: str | None = None


class PartitionField(msgspec.Struct):
    source_field: str
    transform: str
    name: str


class Snapshot(msgspec.Struct):
    snapshot_id: int
    timestamp: dt.datetime
    operation: str | None = None
    parent_id: int | None = None
    summary: dict[str, str] = {}

    @property
    def total_records(self) -> int | None:
        value = self.summary.get("total-records")
        return int(value) if value is not None else None


class TableInfo(msgspec.Struct):
    ident: TableIdent
    location: str
    schema: list[SchemaField]
    partition_spec: list[PartitionField]
    properties: dict[str, str]
    snapshots: list[Snapshot]
    current_snapshot_id: int | None = None
    format_version: int = 2

    @property
    def current_snapshot(self) -> Snapshot | None:
        for snapshot in self.snapshots:
            if snapshot.snapshot_id == self.current_snapshot_id:
                return snapshot
        return None


class NewField(msgspec.Struct):
    """A column of a table to create; ``type`` is an Iceberg primitive type name."""

    name: str
    type: str
    required: bool = False


class Catalog(Component):
    """An Iceberg catalog. Raises :class:`lakeplane.errors.NotFound` subclasses for a
    missing namespace or table and :class:`lakeplane.errors.Conflict` when one exists."""

    kind: ClassVar[str] = "catalog"

    @abc.abstractmethod
    async def list_namespaces(self, parent: Namespace = ()) -> list[Namespace]:
        """The namespaces directly under ``parent`` (the top level for ``()``), as full paths.

        Raises :class:`~lakeplane.errors.NotFound` when ``parent`` does not exist.
        """

    @abc.abstractmethod
    async def create_namespace(self, namespace: Namespace, properties: dict[str, str] | None = None) -> None:
        """Create ``namespace`` with ``properties``.

        Raises :class:`~lakeplane.errors.Conflict` when it exists already.
        """

    @abc.abstractmethod
    async def drop_namespace(self, namespace: Namespace) -> None:
        """Drop an empty ``namespace``.

        Raises :class:`~lakeplane.errors.NotFound` when it is missing and
        :class:`~lakeplane.errors.Conflict` when it still holds tables.
        """

    @abc.abstractmethod
    async def namespace_properties(self, namespace: Namespace) -> dict[str, str]:
        """The namespace's properties (``{}`` when it has none).

        Raises :class:`~lakeplane.errors.NotFound` when it is missing.
        """

    @abc.abstractmethod
    async def list_tables(self, namespace: Namespace) -> list[TableIdent]:
        """Every table directly in ``namespace``, in no promised order.

        Raises :class:`~lakeplane.errors.NotFound` when the namespace is missing.
        """

    @abc.abstractmethod
    async def load_table(self, ident: TableIdent) -> TableInfo:
        """The table's current metadata: schema, partition spec, properties and snapshots.

        Raises :class:`~lakeplane.errors.TableNotFound` when the table is missing and
        :class:`~lakeplane.errors.NotFound` when its namespace is.
        """

    @abc.abstractmethod
    async def create_table(
        self,
        ident: TableIdent,
        fields: list[NewField],
        partition_by: list[PartitionField] | None = None,
        properties: dict[str, str] | None = None,
    ) -> TableInfo:
        """Create an empty table and return its metadata as :meth:`load_table` would.

        Raises :class:`~lakeplane.errors.Conflict` when the table exists,
        :class:`~lakeplane.errors.NotFound` when the namespace is missing, and
        :class:`~lakeplane.errors.ValidationFailed` for a type or transform the catalog refuses.
        """

    @abc.abstractmethod
    async def drop_table(self, ident: TableIdent, purge: bool = False) -> None:
        """Forget the table; with ``purge`` also delete its data and metadata files.

        Raises :class:`~lakeplane.errors.NotFound` when it is missing.
        """

    @abc.abstractmethod
    async def update_properties(
        self, ident: TableIdent, updates: dict[str, str], removals: list[str] | None = None
    ) -> dict[str, str]:
        """Set ``updates`` and remove ``removals`` in one commit; returns every property after it.

        Removing a missing key is not an error. Raises :class:`~lakeplane.errors.NotFound` when
        the table is missing and :class:`~lakeplane.errors.Conflict` when another commit won.
        """

    async def table_exists(self, ident: TableIdent) -> bool:
        """Whether :meth:`load_table` finds the table; other errors pass through."""
        from lakeplane.errors import NotFound

        try:
            await self.load_table(ident)
        except NotFound:
            return False
        return True
