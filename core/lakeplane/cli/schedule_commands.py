"""lakeplane scheduler."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from lakeplane.cli import add_config_arg


def register(subparsers: Any) -> None:
    scheduler = subparsers.add_parser("scheduler", help="fire due schedules as runs")
    add_config_arg(scheduler)
    scheduler.add_argument(
        "--heartbeat-file",
        help="file the tick loop touches, for `lakeplane health --live` (default: in the temp dir)",
    )
    scheduler.set_defaults(func=cmd_scheduler)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from lakeplane import config, logs, metrics
    from lakeplane.db.migrate import refuse_unknown_schema
    from lakeplane.liveness import Heartbeat, default_path
    from lakeplane.runtime import Services
    from lakeplane.scheduler import serve

    loaded = config.load(args.config)
    logs.apply(loaded)

    async def run() -> None:
        lp = Services.build(loaded)
        await refuse_unknown_schema(lp.engine, "lakeplane scheduler")
        sampler = metrics.start(lp)
        path = Path(args.heartbeat_file) if args.heartbeat_file else default_path("scheduler")
        try:
            await serve(lp, Heartbeat(path))
        finally:
            if sampler is not None:
                sampler.cancel()

    asyncio.run(run())
    return 0
