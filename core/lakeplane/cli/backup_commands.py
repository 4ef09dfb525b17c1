"""backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from lakeplane import config as config_module
from lakeplane.cli import add_command, add_config_arg


def register(subparsers: Any) -> None:
    backup = subparsers.add_parser(
        "backup",
        help="write the metadata database and run logs to one archive (a directory or s3://bucket/prefix)",
    )
    add_config_arg(backup)
    backup.add_argument("--to", default=".", metavar="DIR|s3://BUCKET/PREFIX", help="where the archive goes")
    backup.add_argument(
        "--keep-last", type=_positive, metavar="N", help="then keep only the newest N archives there"
    )
    backup.add_argument(
        "--keep-days", type=float, metavar="D", help="then remove archives there older than D days"
    )
    backup.add_argument("--quiet", action="store_true", help="print only the archive's location")
    backup.set_defaults(func=cmd_backup)

    restore = add_command(subparsers, "restore", "restore an archive made by `lakeplane backup`", cmd_restore)
    restore.add_argument("archive", metavar="ARCHIVE", help="a file, or s3://bucket/key")
    restore.add_argument("--force", action="store_true", help="replace a target that already holds data")
    restore.add_argument(
        "--check", action="store_true", help="verify the archive and the target; write nothing"
    )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _progress(quiet: bool) -> Any:
    def show(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return show


def cmd_backup(args: argparse.Namespace) -> int:
    from lakeplane.backup import backup

    config = config_module.load(args.config)
    result = asyncio.run(
        backup(
            config,
            args.to,
            keep_last=args.keep_last,
            keep_days=args.keep_days,
            progress=_progress(args.quiet),
        )
    )
    print(result.location)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from lakeplane.backup import restore

    config = config_module.load(args.config)
    result = asyncio.run(
        restore(config, args.archive, force=args.force, verify_only=args.check, progress=_progress(False))
    )
    if args.check:
        print(f"{args.archive}: sound, and the target can take it (schema {result.manifest.schema_revision})")
    return 0
