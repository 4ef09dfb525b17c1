from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from lakeplane.domain.names import Name

JobType = Literal["trino_sql", "spark_batch", "noop", "iceberg-maintenance"]
ParameterType = Literal["string", "integer", "number", "boolean", "date", "identifier"]
ParameterName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
QueueName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Attempts = Annotated[int, msgspec.Meta(ge=1, le=20)]
Concurrency = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Backoff = Annotated[float, msgspec.Meta(ge=0, le=86_400)]
Timeout = Annotated[float, msgspec.Meta(gt=0, le=7 * 86_400)]


class ParameterSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A declared job parameter; values are checked against ``type`` at submit."""

    name: ParameterName
    type: ParameterType = "string"
    default: Any = None
    required: bool = False
    description: str = ""


class JobCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    type: JobType
    definition: dict[str, Any]
    parameters: list[ParameterSpec] = []
    connection_id: str | None = None
    queue: QueueName = "default"
    max_concurrency: Concurrency | None = None
    max_attempts: Attempts = 1
    retry_backoff_s: Backoff = 10.0
    timeout_s: Timeout | None = None


class JobUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out keep the current version's value; any change makes a new version."""

    name: Name | None = None
    definition: dict[str, Any] | None = None
    parameters: list[ParameterSpec] | None = None
    #: ``null`` clears these three; leaving them out keeps them.
    connection_id: str | msgspec.UnsetType | None = msgspec.UNSET
    max_concurrency: Concurrency | msgspec.UnsetType | None = msgspec.UNSET
    timeout_s: Timeout | msgspec.UnsetType | None = msgspec.UNSET
    queue: QueueName | None = None
    max_attempts: Attempts | None = None
    retry_backoff_s: Backoff | None = None
    archived: bool | None = None


class JobVersionOut(msgspec.Struct):
    id: str
    job_id: str
    version: int
    definition: dict[str, Any]
    parameters: list[dict[str, Any]]
    connection_id: str | None
    queue: str
    max_concurrency: int | None
    max_attempts: int
    retry_backoff_s: float
    timeout_s: float | None
    created_by: str | None
    created_at: dt.datetime


class JobOut(msgspec.Struct):
    id: str
    workspace_id: str
    name: str
    type: str
    current_version: int
    archived: bool
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: JobVersionOut | None = None
