from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from lakeplane.domain.names import DisplayText, LongText, Tag

DatasetName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,199}$", max_length=200)]
Location = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]+://[^\s]+$", max_length=2000)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,199}$")]


class DatasetCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Register a table. Either give ``location``, or a catalog connection and table to look it up."""

    name: DatasetName
    owner: DisplayText
    location: Location | None = None
    format: Literal["iceberg"] = "iceberg"
    tags: Tags = []
    description: LongText = ""
    connection_id: str | None = None
    namespace: Annotated[list[Ident], msgspec.Meta(min_length=1, max_length=8)] | None = None
    table: Ident | None = None


class DatasetUpdate(msgspec.Struct, forbid_unknown_fields=True):
    owner: DisplayText | None = None
    tags: Tags | None = None
    description: LongText | None = None


class RetentionPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """What table maintenance may remove: snapshots older than this many days, always keeping
    ``keep_last``; unreferenced files older than ``orphan_older_than_days``."""

    expire_older_than_days: Annotated[float, msgspec.Meta(ge=1, le=36_500)] = 7
    keep_last: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 10
    orphan_older_than_days: Annotated[float, msgspec.Meta(ge=1, le=36_500)] = 7


class LegalHoldSet(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class DatasetOut(msgspec.Struct):
    id: str
    workspace_id: str
    name: str
    owner: str
    location: str
    format: str
    tags: list[str]
    description: str
    connection_id: str | None
    namespace: list[str] | None
    table: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    legal_hold: bool = False
    legal_hold_reason: str | None = None
    legal_hold_at: dt.datetime | None = None
    retention: RetentionPolicy | None = None


class DatasetDetail(DatasetOut):
    """A dataset with what its catalog says now."""

    live: dict[str, Any] | None = None
    live_error: str | None = None
