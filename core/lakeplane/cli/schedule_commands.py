"""lakeplane scheduler."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from lakeplane.cli import add_config_arg


def register(subparsers: Any) -> None:
    scheduler = subparsers.add_parser("scheduler", help="fire due schedules as runs")
    add_config_arg(scheduler)
    scheduler.set_defaults(func=cmd_scheduler)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from lakeplane import config
    from lakeplane.db.migrate import refuse_unknown_schema
    from lakeplane.scheduler import serve
    from lakeplane.web.state import Services

    async def run() -> None:
        lp = Services.build(config.load(args.config))
        await refuse_unknown_schema(lp.engine, "lakeplane scheduler")
        await serve(lp)

    asyncio.run(run())
    return 0
