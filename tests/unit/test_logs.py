"""Log lines: JSON fields, context, and redaction on every handler (the root's and others')."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest

from lakeplane import logs
from lakeplane.security.redact import SECRETS, RedactingFilter, encoded_forms


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        yield out
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


def _point_at(out: io.StringIO) -> None:
    handler = logs._installed
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)


def test_json_lines_carry_context_and_no_secret(captured: io.StringIO) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    logs.configure(json=True, secrets=[secret])
    _point_at(captured)
    own = logging.getLogger("third.party")
    own_out = io.StringIO()
    own.addHandler(logging.StreamHandler(own_out))
    logs.attach_filters()
    token_request, token_user, token_run = (
        logs.request_id.set("req1"),
        logs.user_id.set("usr_1"),
        logs.run_id.set("run_1"),
    )
    try:
        log = logging.getLogger("lakeplane.test")
        for form in encoded_forms(secret):
            log.info("value %s here", form)
        try:
            raise ValueError(f"failed with {secret}")
        except ValueError:
            log.exception("boom")
        own.warning("third party says %s", secret)
    finally:
        logs.request_id.reset(token_request)
        logs.user_id.reset(token_user)
        logs.run_id.reset(token_run)
        own.handlers.clear()
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert len(lines) == len(encoded_forms(secret)) + 2  # and the exception, and the third party via the root
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line)
        assert (line["request_id"], line["user_id"], line["run_id"]) == ("req1", "usr_1", "run_1")
    text = captured.getvalue() + own_out.getvalue()
    assert not any(form in text for form in encoded_forms(secret))
    assert "[REDACTED]" in own_out.getvalue()
    assert "exception" in lines[-2] and "ValueError" in lines[-2]["exception"]
    assert lines[-1]["logger"] == "third.party"


def test_every_handler_gets_the_redacting_filter(captured: io.StringIO) -> None:
    logs.configure()
    assert all(
        any(isinstance(f, RedactingFilter) for f in handler.filters)
        for handler in logging.getLogger().handlers
    )
    SECRETS.add(["later-" + "x" * 12])
    assert SECRETS("a later-xxxxxxxxxxxx b") == "a [REDACTED] b"


def test_config_secrets_are_found() -> None:
    from lakeplane.testing.app import make_config

    config = make_config(
        "postgresql+asyncpg://u:db-password-123@127.0.0.1/x",
        object_store={"plugin": "s3", "options": {"secret_access_key": "store-secret-456", "region": "r"}},
    )
    found = logs.config_secrets(config)
    assert {"db-password-123", "store-secret-456", config.security.session_key} <= set(found)
    assert "r" not in found
