from __future__ import annotations

import datetime as dt

import msgspec

from lakeplane.domain.names import DisplayText, LongText, Slug


class WorkspaceCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: DisplayText
    description: LongText = ""


class WorkspaceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: DisplayText | None = None
    description: LongText | None = None


class WorkspaceOut(msgspec.Struct):
    id: str
    slug: str
    name: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    role: str | None = None
