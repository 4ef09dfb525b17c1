"""Auth providers: who is this person?

A provider turns a login attempt into an :class:`Identity`; the core then finds
or provisions the user, throttles attempts, creates the session, applies roles
and writes the audit event. Providers never see sessions, cookies or roles.

Password providers (local, LDAP) implement :meth:`AuthProvider.authenticate`,
:meth:`AuthProvider.check_password` and :meth:`AuthProvider.hash_password`.
Redirect providers (OIDC) implement :meth:`AuthProvider.begin_login` and
:meth:`AuthProvider.complete_login`; the core serves ``POST /api/v1/auth/sso/begin``
and ``GET /api/v1/auth/sso/callback`` around them, keeps ``LoginRedirect.state`` in
a signed short-lived cookie and provisions the user by ``(provider, subject)``.
``login_kind`` tells the UI which form to show.
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
        """Check a password. ``None`` for any failure (unknown user, wrong password,
        disabled user) with no hint which, and in about the same time for each, so
        neither the answer nor its latency tells whether the user exists.
        """
        raise NotImplementedError(f"{self.name} does not take passwords")

    def check_password(self, password: str) -> None:
        """Refuse a password this provider will not hash or verify (e.g. too long) with
        :class:`~lakeplane.errors.ValidationFailed`. Called before any work, so it must
        not depend on who the user is.
        """
        raise NotImplementedError(f"{self.name} does not take passwords")

    async def hash_password(self, password: str) -> str:
        """A hash to store for a new or changed password. Async so that slow hashing
        can run off the event loop.
        """
        raise NotImplementedError(f"{self.name} does not take passwords")

    async def begin_login(self, redirect_uri: str) -> LoginRedirect:
        """Where to send the browser; ``state`` comes back to :meth:`complete_login`."""
        raise NotImplementedError(f"{self.name} does not redirect")

    async def complete_login(
        self, redirect_uri: str, params: dict[str, str], state: dict[str, Any]
    ) -> Identity:
        """Turn the callback's query ``params`` into an identity, or raise
        :class:`~lakeplane.errors.NotAuthenticated`.
        """
        raise NotImplementedError(f"{self.name} does not redirect")
