from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from lakeplane.domain.names import Username

#: Any string up to 150 characters but NUL (which Postgres cannot store): a login names
#: no one until the provider vouches for it, and failed attempts are audited as typed.
LoginName = Annotated[str, msgspec.Meta(min_length=1, max_length=150, pattern=r"^[^\x00]*$")]
#: Characters; the provider enforces its own byte limit (and answers 422 beyond it).
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: LoginName
    password: Password


class SessionOut(msgspec.Struct):
    user_id: str
    username: str
    is_admin: bool
    #: Send it back in ``X-CSRF-Token`` (or the ``csrf_token`` form field) on unsafe requests.
    csrf_token: str
    expires_at: dt.datetime


class MeOut(msgspec.Struct):
    user_id: str
    username: str
    display_name: str
    is_admin: bool
    is_service_account: bool
    #: ``session`` or ``token``.
    via: str
    csrf_token: str | None
    workspaces: dict[str, str]
    scopes: list[str]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password


class BootstrapRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    username: Username
    password: Password


class SsoBeginOut(msgspec.Struct):
    url: str
