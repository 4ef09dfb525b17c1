"""serve, migrate, config check, plugins, secrets, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import tomllib
from typing import Any

import msgspec

from lakeplane import config as config_module
from lakeplane import logs
from lakeplane import plugins as plugin_loading
from lakeplane.cli import add_command
from lakeplane.domain import audit
from lakeplane.errors import ConfigError


def register(subparsers: Any) -> None:
    serve = add_command(subparsers, "serve", "run the API and admin UI", cmd_serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    migrate = add_command(subparsers, "migrate", "bring the metadata database schema up to date", cmd_migrate)
    migrate.add_argument("--revision", default="head")
    migrate.add_argument(
        "--check", action="store_true", help="list pending migrations and exit 1 if any; change nothing"
    )

    config = subparsers.add_parser("config", help="inspect the configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    add_command(
        config_sub, "check", "validate and print the resolved config, secrets masked", cmd_config_check
    )

    add_command(subparsers, "plugins", "list installed and selected plugins", cmd_plugins)

    secrets_cmd = subparsers.add_parser("secrets", help="keys and encrypted connection secrets")
    secrets_sub = secrets_cmd.add_subparsers(dest="secrets_command", required=True)
    gen = secrets_sub.add_parser("generate-key", help="print a new random key for the config")
    gen.set_defaults(func=lambda args: print(generate_key()))
    add_command(secrets_sub, "rotate", "re-encrypt every connection secret with the primary key", cmd_rotate)
    move = add_command(
        secrets_sub,
        "migrate",
        "move every connection secret from the configured secret store to another",
        cmd_secrets_migrate,
    )
    move.add_argument("--to", required=True, metavar="STORE", help="the secret store to move to, by name")
    move.add_argument(
        "--options",
        default="{}",
        metavar="JSON",
        help="that store's options, as [secret_store.options] takes them",
    )

    health = add_command(subparsers, "health", "exit 0 when this component's dependencies answer", cmd_health)
    health.add_argument("--component", choices=("api", "worker", "scheduler"), default="api")
    health.add_argument("--timeout", type=float, default=5.0)
    health.add_argument(
        "--live",
        action="store_true",
        help="worker/scheduler: liveness from the process's own heartbeat file, without the database",
    )
    health.add_argument("--heartbeat-file", help="the file the worker or scheduler touches")
    health.add_argument("--max-age", type=float, help="seconds a heartbeat stays fresh (default 30)")

    audit_cmd = subparsers.add_parser("audit", help="the audit log")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    add_command(audit_sub, "verify", "check the audit hash chain", cmd_audit_verify)


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")


def load_config(args: argparse.Namespace) -> config_module.Config:
    return config_module.load(getattr(args, "config", None))


def load_services(args: argparse.Namespace) -> Any:
    from lakeplane.runtime import Services

    return Services.build(load_config(args))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lakeplane.web.app import create_app
    from lakeplane.web.proxy import behind_proxy

    config = load_config(args)
    _refuse_unknown_schema(config.database, "lakeplane serve")
    logs.apply(config)
    if config.metrics.enabled:
        from lakeplane import metrics

        metrics.serve(config.metrics.host, config.metrics.port)
    app = behind_proxy(create_app(config), config.server)
    uvicorn.run(
        app,
        host=args.host or config.server.host,
        port=args.port or config.server.port,
        log_level=config.logging.level.lower(),
        # uvicorn's loggers go through the root handler: redacted, and JSON when asked.
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    return 0


def _refuse_unknown_schema(database: config_module.DatabaseConfig, binary: str) -> None:
    from lakeplane.db.engine import create_engine
    from lakeplane.db.migrate import refuse_unknown_schema

    async def check() -> None:
        engine = create_engine(database)
        try:
            await refuse_unknown_schema(engine, binary)
        finally:
            await engine.dispose()

    asyncio.run(check())


def cmd_migrate(args: argparse.Namespace) -> int:
    from lakeplane.db.migrate import upgrade

    database = config_module.load_database(getattr(args, "config", None))
    if args.check:
        return _migrate_check(database)
    _refuse_unknown_schema(database, "lakeplane migrate")
    upgrade(database.url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _migrate_check(database: config_module.DatabaseConfig) -> int:
    from lakeplane.db.engine import create_engine
    from lakeplane.db.migrate import current_revision, pending_revisions, scripts

    async def current() -> str | None:
        engine = create_engine(database)
        try:
            async with engine.connect() as conn:
                return await current_revision(conn)
        finally:
            await engine.dispose()

    revision = asyncio.run(current())
    pending = pending_revisions(revision)
    print(f"database at revision {revision or '(none)'}")
    if not pending:
        print("no pending migrations")
        return 0
    directory = scripts()
    for name in pending:
        script = directory.get_revision(name)
        print(f"pending: {name}  {(script.doc or '').strip() if script else ''}")
    return 1


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(args)
    loaded = plugin_loading.load(config.plugins)
    plugin_loading.select(config, loaded.registry)
    print(_to_toml(config_module.masked(config_module.to_dict(config))))
    print("# config is valid", file=sys.stderr)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    loaded = plugin_loading.load()
    selection = None
    if args.config or os.environ.get("LAKEPLANE_CONFIG"):
        config = load_config(args)
        selection = plugin_loading.select(config, loaded.registry)
    rows = plugin_loading.describe(loaded, selection)
    print(f"{'ROLE':<13} {'NAME':<16} {'SELECTED':<9} {'DISTRIBUTION':<32} VERSION")
    for row in rows:
        print(
            f"{row['role']:<13} {row['name']:<16} {'yes' if row['selected'] else '':<9} "
            f"{row['distribution'] or '-':<32} {row['version'] or '-'}"
        )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from lakeplane.domain.connections.services import rotate_secrets

    async def run() -> int:
        lp = load_services(args)
        try:
            async with lp.sessions() as db:
                count = await rotate_secrets(db, lp, audit.Actor.system("lakeplane secrets rotate"))
        finally:
            await lp.engine.dispose()
        print(f"re-encrypted {count} connection(s) with key {lp.keyring.primary_key_id!r}")
        return 0

    return asyncio.run(run())


def cmd_secrets_migrate(args: argparse.Namespace) -> int:
    """Move the secrets, then tell the operator to point ``[secret_store]`` at the new store."""
    import json

    import msgspec

    from lakeplane.domain.connections.services import migrate_secrets

    async def run() -> int:
        lp = load_services(args)
        impl = lp.plugins.registry.get("secret_store", args.to, "--to")
        try:
            options = msgspec.convert(json.loads(args.options), impl.cls.Options)
        except (ValueError, msgspec.ValidationError) as exc:
            raise ConfigError("--options", f"not options of the {args.to} store: {exc}") from None
        if impl.name == lp.secret_store.name and options == lp.secret_store.options:
            raise ConfigError("--to", f"{args.to} with these options is the configured store already")
        try:
            async with impl.cls(options, lp.keyring) as target, lp.sessions() as db:
                moved = await migrate_secrets(db, lp, target, audit.Actor.system("lakeplane secrets migrate"))
        finally:
            await lp.engine.dispose()
        print(
            f"moved the secrets of {moved} connection(s) from {lp.secret_store.name} to {args.to}; "
            f"now set [secret_store] plugin = {args.to!r} with these options"
        )
        return 0

    return asyncio.run(run())


def cmd_audit_verify(args: argparse.Namespace) -> int:
    async def run() -> int:
        lp = load_services(args)
        try:
            async with lp.sessions() as db:
                verdict = await audit.verify(db)
        finally:
            await lp.engine.dispose()
        if verdict.ok:
            print(f"audit chain intact: {verdict.checked} events, head {verdict.head}")
            return 0
        print(f"audit chain BROKEN: {verdict.problem} (after {verdict.checked} good events)", file=sys.stderr)
        return 1

    return asyncio.run(run())


def cmd_health(args: argparse.Namespace) -> int:
    """Probe for containers: the API answers /health/ready; workers and schedulers reach the database."""
    import httpx

    from lakeplane.domain.system.services import database_health

    if args.live and args.component != "api":
        return _heartbeat_health(args)
    config = load_config(args)
    if args.component == "api":
        host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::") else config.server.host  # noqa: S104
        try:
            resp = httpx.get(f"http://{host}:{config.server.port}/health/ready", timeout=args.timeout)
        except httpx.HTTPError as exc:
            print(f"api unreachable: {type(exc).__name__}", file=sys.stderr)
            return 1
        print(resp.text)
        return 0 if resp.status_code == 200 else 1

    async def run() -> int:
        lp = load_services(args)
        try:
            result = await asyncio.wait_for(database_health(lp), args.timeout)
        finally:
            await lp.engine.dispose()
        print(msgspec.json.encode(result).decode())
        return 0 if result["ok"] else 1

    return asyncio.run(run())


def _heartbeat_health(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lakeplane.liveness import DEFAULT_MAX_AGE_S, age, default_path

    path = Path(args.heartbeat_file) if args.heartbeat_file else default_path(args.component)
    limit = args.max_age or DEFAULT_MAX_AGE_S
    seconds = age(path)
    if seconds is None:
        print(f"{args.component}: no heartbeat at {path}", file=sys.stderr)
        return 1
    if seconds > limit:
        print(f"{args.component}: last heartbeat {seconds:.0f}s ago (limit {limit:.0f}s)", file=sys.stderr)
        return 1
    print(f"{args.component}: alive, heartbeat {seconds:.1f}s ago")
    return 0


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML to show a config: scalars and arrays first, then sub-tables."""
    lines: list[str] = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    out = []
    if lines:
        if prefix:
            out.append(f"[{prefix}]")
        out.extend(lines)
        out.append("")
    for key, value in tables:
        out.append(_to_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError("", f"cannot print {type(value).__name__}")


__all__ = ["generate_key", "register", "tomllib"]
