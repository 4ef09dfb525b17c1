from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from lakeplane.domain.names import LongText, Name

#: The interface a connection reaches; ``role`` on the wire.
ConnectionKind = Literal["object_store", "catalog", "engine"]


class ConnectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    kind: ConnectionKind = msgspec.field(name="role")
    plugin: Name
    params: dict[str, Any] = {}
    description: LongText = ""


class ConnectionUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; a secret given replaces the stored one."""

    name: Name | None = None
    description: LongText | None = None
    params: dict[str, Any] | None = None


class ConnectionOut(msgspec.Struct):
    id: str
    workspace_id: str
    name: str
    kind: str = msgspec.field(name="role")
    plugin: str
    description: str
    params: dict[str, Any]
    #: Names of the secret parameters that hold a value; the values are never returned.
    secrets_set: list[str]
    last_test_ok: bool | None
    last_tested_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class TestResult(msgspec.Struct):
    ok: bool
    latency_ms: float
    checks: list[dict[str, Any]]
    error: str | None = None
