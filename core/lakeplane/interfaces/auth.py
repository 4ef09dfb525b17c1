"""Auth providers: who is this person?

A provider turns a login attempt into an :class:`Identity`; the core then finds
or provisions the user, creates the session and applies roles. Password
providers (local) implement :meth:`AuthProvider.authenticate`; redirect providers
(OIDC) implement :meth:`AuthProvider.begin_login` and
:meth:`AuthProvider.complete_login`. ``login_kind`` tells the UI which form to show.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol

import msgspec

from lakeplane.interfaces.base import Component


class Identity(msgspec.Struct):
    """A person as the provider knows them."""

    provider: str
    subject: str
    username: str
    display_name: str = ""
    email: str | None = None
    #: Group or role claims, mapped onto Lakeplane roles by the core.
    groups: list[str] = []


class StoredCredential(msgspec.Struct):
    user_id: str
    username: str
    password_hash: str | None
    disabled: bool


class CredentialStore(Protocol):
    """The part of the metadata database a password provider may use; owned by the core."""

    async def get_credential(self, username: str) -> StoredCredential | None: ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...


class LoginRedirect(msgspec.Struct):
    url: str
    #: Opaque state the core keeps in the session until ``complete_login``.
    state: dict[str, Any] = {}


class AuthProvider(Component):
    role: ClassVar[str] = "auth"
    login_kind: ClassVar[Literal["password", "redirect"]] = "password"

    def bind(self, store: CredentialStore) -> None:
        """Give the provider its view of the user store before the first call."""
        self.store = store

    async def authenticate(self, username: str, password: str) -> Identity | None:
        """Check a password. ``None`` for any failure, with no hint which part was wrong."""
        raise NotImplementedError(f"{self.name} does not take passwords")

    def hash_password(self, password: str) -> str:
        """A hash to store for a new or changed password."""
        raise NotImplementedError(f"{self.name} does not take passwords")

    async def begin_login(self, redirect_uri: str) -> LoginRedirect:
        raise NotImplementedError(f"{self.name} does not redirect")

    async def complete_login(
        self, redirect_uri: str, params: dict[str, str], state: dict[str, Any]
    ) -> Identity:
        raise NotImplementedError(f"{self.name} does not redirect")
