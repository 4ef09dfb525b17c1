"""Process logging: text or JSON lines, with context and every line redacted.

``[logging] json = true`` (or ``LAKEPLANE_LOGGING__JSON=true``) is the one switch for JSON
lines. Each line carries ``timestamp``, ``level``, ``logger`` and ``message``, and, where
known, ``request_id``, ``user_id`` and ``run_id`` (from context variables the request
middleware and the worker's attempts set), plus ``audit`` for an audit event.

Every handler on the root logger gets a :class:`~lakeplane.security.redact.RedactingFilter`
over the process's :data:`~lakeplane.security.redact.SECRETS` (the config's secrets, and
every connection secret the process decrypts), and the formatter redacts the finished line
again, so a traceback or an extra field cannot carry a secret out either.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
from collections.abc import Iterable
from typing import Any

import msgspec

from lakeplane.security.redact import SECRETS, RedactingFilter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lakeplane_request_id", default=None)
user_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lakeplane_user_id", default=None)
run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lakeplane_run_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_installed: logging.Handler | None = None
_CONTEXT = (("request_id", request_id), ("user_id", user_id), ("run_id", run_id))


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (as attributes of the same names)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT:
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, _ in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        for extra in ("audit", "http"):
            value = getattr(record, extra, None)
            if value is not None:
                line[extra] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return SECRETS(msgspec.json.encode(line, enc_hook=str).decode())


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return SECRETS(super().format(record))


def configure(
    *, json: bool = False, level: str = "INFO", secrets: Iterable[str] = (), quiet_audit: bool = False
) -> None:
    """(Re)configure the root logger: one stderr handler, redacting, text or JSON."""
    global _installed
    SECRETS.add(secrets)
    root = logging.getLogger()
    # Replace only the handler this module installed: others (a test runner's) stay, filtered too.
    if _installed is not None:
        root.removeHandler(_installed)
    handler = _installed = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    attach_filters()
    # One line per HTTP call drowns what a command has to say.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A command's console shows what it did, not the audit event it wrote.
    logging.getLogger("lakeplane.audit").setLevel(logging.WARNING if quiet_audit else logging.NOTSET)


def attach_filters() -> None:
    """Give every handler of the root logger (and of loggers that keep their own) the filters."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
                handler.addFilter(RedactingFilter(SECRETS))


def config_secrets(config: Any) -> list[str]:
    """The secret values in a loaded config: keys, passwords in URLs, secret-looking options."""
    from sqlalchemy.engine import make_url

    found = [config.security.session_key, *config.security.encryption_keys.values()]
    password = make_url(config.database.url).password
    if isinstance(password, str):
        found.append(password)
    choices = [config.object_store, config.catalog, config.auth, *config.engines.values()]
    for choice in choices:
        for key, value in choice.options.items():
            if isinstance(value, str) and any(
                word in key for word in ("secret", "password", "token", "credential")
            ):
                found.append(value)
    return [value for value in found if value]


def apply(config: Any, *, quiet_audit: bool = False) -> None:
    """Logging as the config's ``[logging]`` table says, redacting the config's own secrets."""
    settings = getattr(config, "logging", None)
    configure(
        json=bool(getattr(settings, "json", False)),
        level=str(getattr(settings, "level", "INFO")),
        secrets=config_secrets(config),
        quiet_audit=quiet_audit,
    )
