"""The configuration file: one TOML file, overridden key by key from the environment.

The file comes from ``--config`` or ``$LAKEPLANE_CONFIG``. An environment variable
``LAKEPLANE_<SECTION>__<KEY>`` (double underscore between levels) replaces one key,
e.g. ``LAKEPLANE_DATABASE__URL`` or ``LAKEPLANE_SECURITY__ENCRYPTION_KEYS__K2``;
its value is read as a TOML value when it parses as one, else as a string.

Anything wrong stops start-up with one :class:`~lakeplane.errors.ConfigError` line
that names the key and the reason.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from lakeplane.errors import ConfigError

ENV_PREFIX = "LAKEPLANE_"
MIN_KEY_BYTES = 32
KEY_HINT = "make one with: lakeplane secrets generate-key"

# Values printed in docs, examples and tutorials; a key equal to one is no secret.
KNOWN_EXAMPLE_KEYS = frozenset(
    {
        "change-me-change-me-change-me-change-me",
        "changeme-changeme-changeme-changeme",
        "REPLACE-ME-WITH-A-RANDOM-KEY-OF-32-BYTES-OR-MORE",
        "0123456789abcdef0123456789abcdef",
        "secretsecretsecretsecretsecretsecret",
        "this-is-not-a-secret-key-for-production",
    }
)


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    #: Request bodies larger than this are refused with 413.
    max_body_bytes: int = 1_048_576
    #: Set when a TLS-terminating proxy is in front: cookies get ``Secure``.
    tls: bool = False
    #: Proxies (IPs or CIDR ranges) whose X-Forwarded-For is believed; empty trusts no one.
    forwarded_allow_ips: list[str] = []

    def __post_init__(self) -> None:
        for entry in self.forwarded_allow_ips:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"forwarded_allow_ips: {entry!r} is not an IP address or CIDR range"
                ) from None


class DatabaseConfig(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    pool_size: int = 10
    #: A request waiting longer than this for the database gets 503.
    connect_timeout_s: float = 3.0
    statement_timeout_s: float = 30.0


class SecurityConfig(msgspec.Struct, forbid_unknown_fields=True):
    session_key: str
    encryption_keys: dict[str, str]
    primary_key_id: str
    #: Endpoints (host, host:port, IP or CIDR) allowed even though they are link-local or metadata.
    allowed_endpoints: list[str] = []
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    connection_test_timeout_s: float = 10.0


class PluginChoice(msgspec.Struct, forbid_unknown_fields=True):
    plugin: str
    options: dict[str, Any] = {}


class PluginsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Which installed plugins load; the built-in ones load unless blocked."""

    #: Entry-point (or built-in module) names not to load.
    blocked: list[str] = []
    #: Entry-point names that may load; empty: every installed plugin not blocked.
    allowed: list[str] = []


#: Engines every deployment has beside the configured ones: pipelines and benchmarks rely on
#: ``noop``. Left out when a configured engine has the same name or uses the same plugin.
STANDARD_ENGINES = {"noop": PluginChoice(plugin="noop")}


class WorkerConfig(msgspec.Struct, forbid_unknown_fields=True):
    lease_seconds: float = 15.0
    poll_interval_s: float = 0.2
    concurrency: int = 16
    #: Runs each named queue may have running at once in a workspace.
    queues: dict[str, int] = msgspec.field(default_factory=lambda: {"default": 8, "bi": 8, "batch": 4})
    #: Runs one workspace may have running at once over all queues (default: the sum of the queues).
    workspace_limit: int | None = None


class LoggingConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: JSON lines (timestamp, level, logger, message, request/user/run id) instead of text.
    json: bool = False
    level: str = "INFO"
    #: One line per HTTP request: method, path, status, duration, request and user id.
    access_log: bool = False


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: Serve Prometheus metrics on a listener of their own (never on the API's port).
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


class Config(msgspec.Struct, forbid_unknown_fields=True):
    database: DatabaseConfig
    security: SecurityConfig
    object_store: PluginChoice = msgspec.field(default_factory=lambda: PluginChoice(plugin="s3"))
    catalog: PluginChoice = msgspec.field(default_factory=lambda: PluginChoice(plugin="iceberg-rest"))
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    auth: PluginChoice = msgspec.field(default_factory=lambda: PluginChoice(plugin="local"))
    engines: dict[str, PluginChoice] = {}
    plugins: PluginsConfig = msgspec.field(default_factory=PluginsConfig)
    worker: WorkerConfig = msgspec.field(default_factory=WorkerConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    #: Where connection secrets are kept: ``database`` (sealed with ``security.encryption_keys``)
    #: or a plugin's store, such as ``kubernetes`` (one Secret per connection).
    secret_store: PluginChoice = msgspec.field(default_factory=lambda: PluginChoice(plugin="database"))

    def enabled_engines(self) -> dict[str, PluginChoice]:
        """The configured engines, then the :data:`STANDARD_ENGINES` they do not replace."""
        used = {choice.plugin for choice in self.engines.values()}
        standard = {
            name: choice
            for name, choice in STANDARD_ENGINES.items()
            if name not in self.engines and choice.plugin not in used
        }
        return {**self.engines, **standard}


def load(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read, override and validate the config; raise :class:`ConfigError` on any fault."""
    config = decode(_read(path, environ))
    check_keys(config.security)
    return config


def load_database(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> DatabaseConfig:
    """Only the ``[database]`` section, validated: all ``lakeplane migrate`` needs.

    A migration runs before the release's other Secrets exist (the chart's pre-install
    hook), so it must not require the session or encryption keys.
    """
    raw = _read(path, environ).get("database", {})
    if not isinstance(raw, dict):
        raise ConfigError("database", "expected a table")
    try:
        return msgspec.convert(raw, DatabaseConfig)
    except msgspec.ValidationError as exc:
        raise config_error(exc, "database") from None


def _read(path: str | os.PathLike[str] | None, environ: dict[str, str] | None) -> dict[str, Any]:
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get("LAKEPLANE_CONFIG")
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError("--config", f"file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{path} is not valid TOML ({exc})") from None
    apply_env(raw, environ)
    return raw


def apply_env(raw: dict[str, Any], environ: dict[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(name, "empty key part in environment variable name")
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(path), f"{part} is not a table")
            node = child
        node[path[-1]] = _env_value(value)


def _env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


def decode(raw: dict[str, Any]) -> Config:
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise config_error(exc) from None


def config_error(exc: msgspec.ValidationError, prefix: str = "") -> ConfigError:
    """Turn msgspec's ``Expected int, got str - at `$.server.port``` into key + reason."""
    match = _MSGSPEC_PATH.match(str(exc))
    assert match is not None
    reason = match["reason"]
    key = (match["path"] or "").lstrip(".")
    key = re.sub(r"\[['\"]?([^\]'\"]+)['\"]?\]", r".\1", key).lstrip(".")
    missing = re.match(r"Object missing required field `(\w+)`", reason)
    if missing:
        key = f"{key}.{missing[1]}" if key else missing[1]
        reason = "missing required key"
    unknown = re.match(r"Object contains unknown field `(\w+)`", reason)
    if unknown:
        key = f"{key}.{unknown[1]}" if key else unknown[1]
        reason = "unknown key"
    reason = reason.replace("`", "").replace("Expected", "expected")
    full_key = ".".join(part for part in (prefix, key) if part)
    return ConfigError(full_key or "config", reason)


def check_key(name: str, value: str) -> None:
    """Refuse a missing, short, repetitive or published example key."""
    size = len(value.encode())
    if size == 0:
        raise ConfigError(name, f"is missing; {KEY_HINT}")
    if size < MIN_KEY_BYTES:
        raise ConfigError(name, f"is too short ({size} bytes, need {MIN_KEY_BYTES}); {KEY_HINT}")
    if value in KNOWN_EXAMPLE_KEYS or len(set(value)) < 8:
        raise ConfigError(name, f"is a known example value, not a secret; {KEY_HINT}")


def check_keys(security: SecurityConfig) -> None:
    check_key("security.session_key", security.session_key)
    if not security.encryption_keys:
        raise ConfigError("security.encryption_keys", f"is missing; {KEY_HINT}")
    for key_id, value in security.encryption_keys.items():
        check_key(f"security.encryption_keys.{key_id}", value)
    if security.primary_key_id not in security.encryption_keys:
        raise ConfigError(
            "security.primary_key_id",
            f"names {security.primary_key_id!r}, which is not among encryption_keys "
            f"({', '.join(sorted(security.encryption_keys))})",
        )
    if security.session_key in security.encryption_keys.values():
        raise ConfigError("security.session_key", "must differ from every encryption key")


_SECRET_NAMES = re.compile(r"(secret|password|token|credential|private_key|session_key)", re.I)
MASK = "********"


def masked(value: Any, key: str = "") -> Any:
    """A copy fit to print: secret-looking keys and URL passwords replaced by ``MASK``."""
    if isinstance(value, dict):
        if key.endswith("encryption_keys"):
            return {k: MASK for k in value}
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_NAMES.search(key):
            return MASK
        return re.sub(r"(://[^:/@]+:)[^@/]+@", rf"\1{MASK}@", value)
    return value


def to_dict(config: Config) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(config)
    return result
