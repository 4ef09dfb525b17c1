"""lakeplane scheduler."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from lakeplane.cli import add_command, add_heartbeat_arg, heartbeat_of


def register(subparsers: Any) -> None:
    scheduler = add_command(subparsers, "scheduler", "fire due schedules as runs", cmd_scheduler)
    add_heartbeat_arg(scheduler, "tick")


def cmd_scheduler(args: argparse.Namespace) -> int:
    from lakeplane import config, logs, metrics
    from lakeplane.db.migrate import refuse_unknown_schema
    from lakeplane.runtime import Services
    from lakeplane.scheduler import serve

    loaded = config.load(args.config)
    logs.apply(loaded)

    async def run() -> None:
        lp = Services.build(loaded)
        await refuse_unknown_schema(lp.engine, "lakeplane scheduler")
        sampler = metrics.start(lp)
        heartbeat = heartbeat_of(args, "scheduler")
        try:
            await serve(lp, heartbeat)
        finally:
            if sampler is not None:
                sampler.cancel()

    asyncio.run(run())
    return 0
