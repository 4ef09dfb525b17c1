"""Helpers shared by the contract suites, and useful to a plugin's own tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable

import pytest

from lakeplane import plugins
from lakeplane.errors import BadCredentials, LakeplaneError, UpstreamError
from lakeplane.interfaces.base import CheckResult, Component, secret_fields


def unreachable_url(scheme: str = "http", host: str = "127.0.0.1") -> str:
    """A URL on loopback where nothing listens: a port taken free and released at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"{scheme}://{host}:{port}"


def assert_registered(cls: type[Component], distribution: str) -> None:
    """The installed plugins register ``cls`` under its kind and name, from ``distribution``."""
    impl = plugins.load().registry.get(cls.kind, cls.name, f"{cls.kind} {cls.name!r}")
    assert impl.cls is cls
    assert impl.distribution == distribution


def secret_values(component: Component) -> list[str]:
    """The non-empty values of ``component``'s parameters declared ``Secret``."""
    values = []
    for name in secret_fields(type(component).Params):
        value = getattr(component.params, name, None)
        if isinstance(value, str) and value:
            values.append(value)
    return values


def assert_no_secrets(component: Component, shown: LakeplaneError | CheckResult | str) -> None:
    """Fail if any secret parameter of ``component`` appears in what a user would be shown.

    An error is checked in its ``detail``, its ``str``, its ``repr`` and its extras; a
    check result in every check's message.
    """
    if isinstance(shown, LakeplaneError):
        texts = [shown.detail, str(shown), repr(shown), repr(shown.extra)]
    elif isinstance(shown, CheckResult):
        texts = [check.message for check in shown.checks]
    else:
        texts = [shown]
    for secret in secret_values(component):
        for text in texts:
            if secret in text:
                shown_text = text.replace(secret, "<SECRET>")
                raise AssertionError(f"a secret parameter leaked into {shown_text!r}")


async def assert_checks_pass(component: Component) -> None:
    """``health`` and ``validate`` both pass, and ``validate`` says what it checked."""
    health = await component.health()
    assert health.ok, health
    result = await component.validate()
    assert result.ok, result
    assert result.checks


async def assert_checks_fail(component: Component) -> None:
    """``validate`` and ``health`` both fail, as results rather than errors, and no secret
    parameter shows in what ``validate`` reports."""
    result = await component.validate()
    assert not result.ok
    assert_no_secrets(component, result)
    assert not (await component.health()).ok


async def assert_unreachable(
    component: Component, request: Callable[[], Awaitable[object]], within_s: float
) -> None:
    """``request`` to a service that cannot be reached is an :class:`UpstreamError` (not
    :class:`BadCredentials`) without a secret, the checks fail, and all within ``within_s``."""
    started = time.monotonic()
    with pytest.raises(UpstreamError) as raised:
        await request()
    assert not isinstance(raised.value, BadCredentials)
    assert_no_secrets(component, raised.value)
    await assert_checks_fail(component)
    assert time.monotonic() - started < within_s
