"""What the Trino engine is configured with and what a ``trino_sql`` job says."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

import msgspec

from lakeplane.interfaces import Endpoint, Secret
from lakeplane_trino._sql import IDENTIFIER_PATTERN, SESSION_PROPERTY_PATTERN, ParsedStatement

_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]{1,253}")


class TrinoParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Connection parameters of one Trino coordinator."""

    host: Endpoint
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    http_scheme: Literal["http", "https"] = "http"
    user: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    #: HTTP basic authentication; only sent over https.
    password: Secret | None = None
    #: Default catalog and schema of statements that name none.
    catalog: str | None = None
    schema: str | None = None
    verify_tls: bool = True
    #: ``X-Trino-Source`` of every query: what Trino's UI and resource groups see.
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] = "lakeplane"
    #: Limit of one HTTP request (result pages are long-polled for about a second).
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0

    def __post_init__(self) -> None:
        if not _is_host(self.host):
            raise ValueError("host must be a host name or an IP address, without scheme or port")
        if self.password is not None and self.http_scheme != "https":
            raise ValueError("a password is only sent over https: set http_scheme to 'https'")
        _check_identifier("catalog", self.catalog)
        _check_identifier("schema", self.schema)

    @property
    def base_url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"{self.http_scheme}://{host}:{self.port}"


class TrinoOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Platform-wide settings of the Trino engine (the config file's ``options``)."""

    #: Rows of each query's result kept in memory for ``results()``.
    preview_rows: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 1000
    #: Finished queries whose preview and log stay in memory, newest first.
    retained_queries: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256
    #: Seconds between progress lines in a running query's log.
    progress_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0


class TrinoSqlSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A ``trino_sql`` job: one statement, with ``:name`` placeholders for parameters.

    ``Submission.parameters`` supplies the placeholder values by name; they are
    bound with ``EXECUTE IMMEDIATE ... USING``, never pasted into the text, except
    an ``identifier`` parameter, which is written in as a checked, quoted name.
    """

    sql: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000_000)]
    catalog: str | None = None
    schema: str | None = None
    session_properties: dict[str, str] = {}

    def __post_init__(self) -> None:
        ParsedStatement(self.sql)
        _check_identifier("catalog", self.catalog)
        _check_identifier("schema", self.schema)
        for name in self.session_properties:
            if not SESSION_PROPERTY_PATTERN.fullmatch(name):
                raise ValueError(f"invalid session property name {name!r}")


def _is_host(host: str) -> bool:
    """A host name or an IP address: no scheme, port, path or credentials."""
    if _HOST_NAME.fullmatch(host):
        return True
    try:
        ipaddress.IPv6Address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _check_identifier(field: str, value: str | None) -> None:
    if value is not None and not IDENTIFIER_PATTERN.fullmatch(value):
        raise ValueError(f"{field} {value!r} is not a plain identifier")
