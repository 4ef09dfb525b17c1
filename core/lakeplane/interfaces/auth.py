"""Auth providers: who is this person?

A provider turns a login attempt into an :class:`Identity`; the core then finds
or provisions the user, throttles attempts, creates the session, applies roles
and writes the audit event. Providers never see sessions, cookies or the database.

There are two kinds, each an abstract class of its own:

- :class:`PasswordAuthProvider` (local, LDAP) checks a user name and password:
  :meth:`~PasswordAuthProvider.authenticate`, :meth:`~PasswordAuthProvider.check_password`,
  :meth:`~PasswordAuthProvider.hash_password`.
- :class:`RedirectAuthProvider` (OIDC) sends the browser elsewhere and reads the answer:
  :meth:`~RedirectAuthProvider.begin_login`, :meth:`~RedirectAuthProvider.complete_login`.
  The core serves ``POST /api/v1/auth/sso/begin`` and ``GET /api/v1/auth/sso/callback``
  around them, keeps ``LoginRedirect.state`` in a signed short-lived cookie and provisions
  the user by ``(provider, subject)``. It may also vouch for bearer tokens on the API
  (:meth:`~RedirectAuthProvider.verify_bearer`) and name a password provider offered beside
  it (:attr:`~RedirectAuthProvider.password_fallback`), for a break-glass administrator.

``login_kind`` tells the UI which form to show.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Literal, Protocol

import msgspec

from lakeplane.interfaces.base import Component, NoParams

#: Workspace roles a provider may grant, weakest first.
WORKSPACE_ROLES = ("viewer", "editor", "admin")


class Identity(msgspec.Struct):
    """A person as the provider knows them."""

    provider: str
    #: Stable id at the provider; for OIDC ``<issuer> <sub>``, never a display name.
    subject: str
    username: str
    display_name: str = ""
    email: str | None = None
    #: Group or role claims, as the provider sent them.
    groups: list[str] = []
    #: Global administrator or not; ``None`` when the provider does not decide it.
    is_admin: bool | None = None
    #: Workspace slug → role (``None``: no role) for each workspace whose roles the
    #: provider decides; workspaces not named keep the roles given in Lakeplane.
    workspace_roles: dict[str, str | None] = {}
    #: What the provider wants back at sign-out (an OIDC ID token, as ``id_token_hint``);
    #: kept in an HTTP-only cookie, never stored.
    session_hint: str | None = None


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
    #: Opaque state the core keeps in a signed cookie until ``complete_login``.
    state: dict[str, Any] = {}


class AuthProvider(Component):
    """What every auth provider shares; subclass :class:`PasswordAuthProvider` or
    :class:`RedirectAuthProvider`."""

    kind: ClassVar[str] = "auth"
    login_kind: ClassVar[Literal["password", "redirect"]]
    #: Providers are set up by their options; one that takes connection parameters declares them.
    Params: ClassVar[type[msgspec.Struct]] = NoParams

    def __init__(self, params: Any = None, options: Any = None) -> None:
        super().__init__(params if params is not None else self.Params(), options)

    def bind(self, store: CredentialStore) -> None:
        """Give the provider its view of the user store before the first call."""
        self.store = store


class PasswordAuthProvider(AuthProvider):
    """A provider that checks user names and passwords itself."""

    login_kind: ClassVar[Literal["password", "redirect"]] = "password"

    @abc.abstractmethod
    async def authenticate(self, username: str, password: str) -> Identity | None:
        """Check a password. ``None`` for any failure (unknown user, wrong password,
        disabled user) with no hint which, and in about the same time for each, so
        neither the answer nor its latency tells whether the user exists.
        """

    @abc.abstractmethod
    def check_password(self, password: str) -> None:
        """Refuse a password this provider will not hash or verify (e.g. too long) with
        :class:`~lakeplane.errors.ValidationFailed`. Called before any work, so it must
        not depend on who the user is.
        """

    @abc.abstractmethod
    async def hash_password(self, password: str) -> str:
        """A hash to store for a new or changed password. Async so that slow hashing
        can run off the event loop; raises :class:`~lakeplane.errors.ValidationFailed`
        for a password the provider's rules refuse.
        """


class RedirectAuthProvider(AuthProvider):
    """A provider that signs people in elsewhere (an identity provider) and reads the answer."""

    login_kind: ClassVar[Literal["password", "redirect"]] = "redirect"
    #: Name of a password provider the core offers beside this one (``None``: none).
    password_fallback: str | None = None
    #: Refuse a sign-in that leaves the person with no role at all.
    require_role: bool = False
    #: Create a user at the first sign-in; when off, only known users may sign in.
    create_users: bool = True

    @property
    def display_name(self) -> str:
        """The name on the sign-in button ("Sign in with <display_name>")."""
        return self.name

    @abc.abstractmethod
    async def begin_login(self, redirect_uri: str) -> LoginRedirect:
        """Where to send the browser; ``state`` comes back to :meth:`complete_login`.

        Raises :class:`~lakeplane.errors.ServiceUnavailable` when the identity provider
        cannot be reached within the provider's timeout.
        """

    @abc.abstractmethod
    async def complete_login(
        self, redirect_uri: str, params: dict[str, str], state: dict[str, Any]
    ) -> Identity:
        """Turn the callback's query ``params`` into an identity, or raise
        :class:`~lakeplane.errors.NotAuthenticated` (bad state, nonce, token, a refusal by
        the identity provider) or :class:`~lakeplane.errors.ServiceUnavailable`.
        """

    async def verify_bearer(self, token: str) -> Identity | None:
        """The identity behind a bearer token the provider issued, checked locally.

        ``None`` when the provider does not take bearer tokens; raises
        :class:`~lakeplane.errors.NotAuthenticated` for a token it refuses.
        """
        return None

    def bearer_expiry(self, token: str) -> float | None:
        """When a token :meth:`verify_bearer` accepted stops being valid (epoch seconds)."""
        return None

    async def logout_url(self, post_logout_redirect_uri: str, id_token_hint: str | None) -> str | None:
        """Where to send the browser to end the session at the identity provider too;
        ``None`` when there is no such place."""
        return None
