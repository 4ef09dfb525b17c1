"""The user form: an admin creating a user and editing one send the same profile fields."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from lakeplane.domain.users.schemas import UserCreate, UserUpdate


@dataclasses.dataclass
class UserForm:
    """A posted user form; creating adds the user name and how the user signs in."""

    sent: dict[str, Any]

    def _profile(self) -> dict[str, Any]:
        return {
            "display_name": str(self.sent.get("display_name", "")),
            "email": str(self.sent.get("email", "")).strip() or None,
            "is_admin": bool(self.sent.get("is_admin")),
        }

    def create(self) -> UserCreate:
        """A service account has no password: it signs in with tokens only."""
        service_account = bool(self.sent.get("is_service_account"))
        password = None if service_account else (str(self.sent.get("password", "")) or None)
        return msgspec.convert(
            {
                "username": str(self.sent.get("username", "")).strip(),
                **self._profile(),
                "password": password,
                "is_service_account": service_account,
            },
            UserCreate,
        )

    def update(self) -> UserUpdate:
        return msgspec.convert({**self._profile(), "disabled": bool(self.sent.get("disabled"))}, UserUpdate)
