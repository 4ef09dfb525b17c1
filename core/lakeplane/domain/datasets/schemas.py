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


class DatasetDetail(DatasetOut):
    """A dataset with what its catalog says now."""

    live: dict[str, Any] | None = None
    live_error: str | None = None
