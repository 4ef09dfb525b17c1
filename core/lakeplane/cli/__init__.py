"""The ``lakeplane`` command.

Each area adds its subcommands through a ``register(subparsers)`` function in a
module listed in :data:`COMMAND_MODULES`; a failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeplane import __version__
from lakeplane.errors import LakeplaneError

if TYPE_CHECKING:
    from lakeplane.liveness import Heartbeat

COMMAND_MODULES = (
    "lakeplane.cli.core_commands",
    "lakeplane.cli.auth_commands",
    "lakeplane.cli.run_commands",
    "lakeplane.cli.schedule_commands",
    "lakeplane.cli.backup_commands",
    "lakeplane.cli.client_commands",
    "lakeplane.local.cli",
    "lakeplane.demo.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakeplane", description="Lakeplane control plane")
    parser.add_argument("--version", action="version", version=f"lakeplane {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise
        module.register(subparsers)
    return parser


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (default: $LAKEPLANE_CONFIG)")


def add_command(
    subparsers: Any, name: str, help: str, func: Callable[[argparse.Namespace], Any]
) -> argparse.ArgumentParser:
    """A subcommand that reads the config file and runs ``func``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help)
    add_config_arg(parser)
    parser.set_defaults(func=func)
    return parser


def add_heartbeat_arg(parser: argparse.ArgumentParser, loop: str) -> None:
    parser.add_argument(
        "--heartbeat-file",
        help=f"file the {loop} loop touches, for `lakeplane health --live` (default: in the temp dir)",
    )


def heartbeat_of(args: argparse.Namespace, component: str) -> Heartbeat:
    from lakeplane.liveness import Heartbeat, default_path

    return Heartbeat(Path(args.heartbeat_file) if args.heartbeat_file else default_path(component))


def run_async(coro: Callable[..., Coroutine[Any, Any, int | None]], *args: Any) -> int:
    return asyncio.run(coro(*args)) or 0


def main(argv: Sequence[str] | None = None) -> int:
    from lakeplane import logs

    logs.configure(
        json=os.environ.get("LAKEPLANE_LOGGING__JSON", "").lower() in ("1", "true"), quiet_audit=True
    )
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args) or 0
    except LakeplaneError as exc:
        print(f"lakeplane: error: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
