from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from lakeplane.domain.names import DisplayText

Scope = Literal["viewer", "editor", "admin"]
MAX_DAYS = 366


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[DisplayText, msgspec.Meta(min_length=1)]
    #: The strongest role the token may act with; empty means the owner's roles.
    #: ``admin`` also allows global-admin routes when the owner is a global admin.
    scopes: Annotated[list[Scope], msgspec.Meta(max_length=3)] = []
    #: Days until the token stops working (at most 366). Tokens always expire.
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_DAYS)] = 90


class TokenOut(msgspec.Struct):
    id: str
    user_id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    active: bool


class TokenCreated(msgspec.Struct):
    """The only response that ever holds the token itself."""

    token: str
    info: TokenOut
