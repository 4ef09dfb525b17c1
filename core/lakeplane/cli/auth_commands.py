"""``lakeplane users create-admin``: the first administrator, without a default password.

The password is asked for twice on a terminal (never echoed), or read as one line
from standard input when that is not a terminal (for automation:
``printf '%s\\n' "$PW" | lakeplane users create-admin alice``). It is never taken
from the command line, where other local users could read it in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

import msgspec

from lakeplane.cli import add_command
from lakeplane.domain import audit
from lakeplane.domain.names import Username
from lakeplane.errors import ValidationFailed


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="local users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = add_command(users_sub, "create-admin", "create a global administrator", cmd_create_admin)
    create.add_argument("username")


def read_password(stdin: Any = None) -> str:
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise ValidationFailed("the passwords differ")
        return first
    line: str = stdin.readline()
    return line.rstrip("\r\n")


def cmd_create_admin(args: argparse.Namespace) -> int:
    from lakeplane.cli.core_commands import load_services
    from lakeplane.domain.auth.services import create_admin, password_provider

    try:
        username = msgspec.convert(args.username, Username)
    except msgspec.ValidationError:
        raise ValidationFailed("user names are letters, digits and _ . @ - (at most 150)") from None
    password = read_password()
    if not password:
        raise ValidationFailed("no password given")

    async def run() -> int:
        lp = load_services(args)
        try:
            password_hash = await password_provider(lp).hash_password(password)
            async with lp.sessions() as db, db.begin():
                user = await create_admin(
                    db,
                    audit.Actor.system("lakeplane users create-admin"),
                    username,
                    password_hash,
                    "user.create",
                )
        finally:
            await lp.engine.dispose()
        print(f"created administrator {user.username} ({user.id})")
        return 0

    return asyncio.run(run())
