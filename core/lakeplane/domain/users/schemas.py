from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from lakeplane.domain.auth.schemas import Password
from lakeplane.domain.names import DisplayText, Username

Role = Literal["viewer", "editor", "admin"]
Email = Annotated[str, msgspec.Meta(max_length=320, pattern=r"^[^\s@<>\"']+@[^\s@<>\"']+$")]


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    display_name: DisplayText = ""
    email: Email | None = None
    #: Required for a person; a service account has none (it uses tokens only).
    password: Password | None = None
    is_admin: bool = False
    is_service_account: bool = False


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are. Changing ``disabled`` or ``is_admin`` ends the
    user's sessions and tokens."""

    display_name: DisplayText | None = None
    email: Email | None = None
    disabled: bool | None = None
    is_admin: bool | None = None


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    new_password: Password


class UserOut(msgspec.Struct):
    id: str
    username: str
    display_name: str
    email: str | None
    auth_provider: str
    is_admin: bool
    is_service_account: bool
    disabled: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class MemberSet(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class MemberOut(msgspec.Struct):
    user_id: str
    username: str
    display_name: str
    role: str
    created_at: dt.datetime
