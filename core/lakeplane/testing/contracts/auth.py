"""The contracts auth providers keep, one per kind, run against the real backend.

:class:`PasswordAuthProviderContract` needs these fixtures:

``password_provider``
    a :class:`~lakeplane.interfaces.PasswordAuthProvider`, bound to a credential store;
``known_user``
    ``(username, password)`` of an enabled user in that store;
``disabled_user``
    ``(username, password)`` of a disabled user in that store.

:class:`RedirectAuthProviderContract` needs:

``redirect_provider``
    a :class:`~lakeplane.interfaces.RedirectAuthProvider` talking to a real identity provider;
``redirect_uri``
    the callback URL the identity provider accepts for it;
``idp_sign_in``
    ``await idp_sign_in(url)``: sign a known person in at the identity provider's page
    ``url`` and return the query parameters it sends to the callback.

The tests aim at what the core relies on: no answer tells an unknown user from a wrong
password, the state of one attempt never completes another, and every refusal is
:class:`~lakeplane.errors.NotAuthenticated` (never a driver error).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from lakeplane.errors import NotAuthenticated, ValidationFailed
from lakeplane.interfaces import Identity, PasswordAuthProvider, RedirectAuthProvider

SignIn = Callable[[str], Awaitable[dict[str, str]]]


class PasswordAuthProviderContract:
    async def test_the_right_password_gives_the_identity(
        self, password_provider: PasswordAuthProvider, known_user: tuple[str, str]
    ) -> None:
        username, password = known_user
        identity = await password_provider.authenticate(username, password)
        assert isinstance(identity, Identity)
        assert identity.provider == password_provider.name
        assert identity.username == username and identity.subject

    async def test_a_wrong_password_gives_none(
        self, password_provider: PasswordAuthProvider, known_user: tuple[str, str]
    ) -> None:
        username, password = known_user
        assert await password_provider.authenticate(username, password + "x") is None
        assert await password_provider.authenticate(username, password.upper() + "!") is None

    async def test_an_unknown_user_gives_none(
        self, password_provider: PasswordAuthProvider, known_user: tuple[str, str]
    ) -> None:
        username, password = known_user
        assert await password_provider.authenticate(username + "-nobody", password) is None

    async def test_a_disabled_user_gives_none(
        self, password_provider: PasswordAuthProvider, disabled_user: tuple[str, str]
    ) -> None:
        assert await password_provider.authenticate(*disabled_user) is None

    async def test_an_absurdly_long_password_is_refused_before_any_work(
        self, password_provider: PasswordAuthProvider
    ) -> None:
        with pytest.raises(ValidationFailed):
            password_provider.check_password("x" * 1_000_000)

    async def test_a_hash_is_never_the_password(self, password_provider: PasswordAuthProvider) -> None:
        password = "a long enough pass phrase"  # noqa: S105 - a test value
        first = await password_provider.hash_password(password)
        second = await password_provider.hash_password(password)
        assert password not in first and first != second

    def test_the_kind_is_password(self, password_provider: PasswordAuthProvider) -> None:
        assert password_provider.login_kind == "password"


class RedirectAuthProviderContract:
    async def test_begin_points_at_the_identity_provider_with_our_callback(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str
    ) -> None:
        begun = await redirect_provider.begin_login(redirect_uri)
        query = parse_qs(urlsplit(begun.url).query)
        assert urlsplit(begun.url).scheme in ("http", "https")
        assert query.get("redirect_uri") == [redirect_uri]
        assert begun.state

    async def test_every_attempt_has_its_own_state(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str
    ) -> None:
        first = await redirect_provider.begin_login(redirect_uri)
        second = await redirect_provider.begin_login(redirect_uri)
        assert first.state != second.state and first.url != second.url

    async def test_a_completed_sign_in_gives_the_identity(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str, idp_sign_in: SignIn
    ) -> None:
        begun = await redirect_provider.begin_login(redirect_uri)
        identity = await redirect_provider.complete_login(
            redirect_uri, await idp_sign_in(begun.url), begun.state
        )
        assert identity.provider == redirect_provider.name
        assert identity.subject and identity.username

    async def test_the_state_of_another_attempt_is_refused(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str, idp_sign_in: SignIn
    ) -> None:
        begun = await redirect_provider.begin_login(redirect_uri)
        other = await redirect_provider.begin_login(redirect_uri)
        params = await idp_sign_in(begun.url)
        with pytest.raises(NotAuthenticated):
            await redirect_provider.complete_login(redirect_uri, params, other.state)

    async def test_an_empty_state_is_refused(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str
    ) -> None:
        with pytest.raises(NotAuthenticated):
            await redirect_provider.complete_login(redirect_uri, {"code": "x", "state": "y"}, {})

    async def test_an_error_from_the_identity_provider_is_refused(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str
    ) -> None:
        begun = await redirect_provider.begin_login(redirect_uri)
        state = parse_qs(urlsplit(begun.url).query).get("state", [""])[0]
        params = {"error": "access_denied", "error_description": "the user said no", "state": state}
        with pytest.raises(NotAuthenticated):
            await redirect_provider.complete_login(redirect_uri, params, begun.state)

    async def test_a_made_up_code_is_refused(
        self, redirect_provider: RedirectAuthProvider, redirect_uri: str
    ) -> None:
        begun = await redirect_provider.begin_login(redirect_uri)
        state = parse_qs(urlsplit(begun.url).query).get("state", [""])[0]
        with pytest.raises(NotAuthenticated):
            await redirect_provider.complete_login(
                redirect_uri, {"code": "made-up", "state": state}, begun.state
            )

    async def test_a_garbage_bearer_token_is_refused_or_ignored(
        self, redirect_provider: RedirectAuthProvider
    ) -> None:
        with contextlib.suppress(NotAuthenticated):
            assert await redirect_provider.verify_bearer("a.b.c") is None

    def test_the_kind_is_redirect(self, redirect_provider: RedirectAuthProvider) -> None:
        assert redirect_provider.login_kind == "redirect"
        assert redirect_provider.display_name
