"""``lakeplane worker``: the process that runs jobs."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import msgspec

from lakeplane.cli import add_command, add_heartbeat_arg, heartbeat_of


def register(subparsers: Any) -> None:
    worker = add_command(subparsers, "worker", "take queued runs and drive their engines", cmd_worker)
    worker.add_argument(
        "--queue",
        action="append",
        dest="queues",
        metavar="NAME",
        help="serve only this queue (repeatable; default: every configured queue)",
    )
    worker.add_argument("--concurrency", type=int, help="attempts run at once (default: worker.concurrency)")
    worker.add_argument("--name", help="worker name in leases and logs (default: host:pid:random)")
    worker.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds SIGTERM waits for running attempts before handing them over (default: 30)",
    )
    add_heartbeat_arg(worker, "lease")


def cmd_worker(args: argparse.Namespace) -> int:
    from lakeplane import config as config_module
    from lakeplane import logs, metrics
    from lakeplane.db.migrate import refuse_unknown_schema
    from lakeplane.errors import ConfigError
    from lakeplane.runtime import Services
    from lakeplane.worker import Worker

    config = config_module.load(args.config)
    unknown = sorted(set(args.queues or ()) - set(config.worker.queues))
    if unknown:
        raise ConfigError(
            "--queue", f"unknown queue(s) {', '.join(unknown)}; configured: {', '.join(config.worker.queues)}"
        )
    concurrency = args.concurrency or config.worker.concurrency
    # Every attempt may hold a connection briefly; the heartbeat, claim and reconcile loops one each.
    pool = max(config.database.pool_size, min(concurrency // 2 + 4, 40))
    config = msgspec.structs.replace(
        config, database=msgspec.structs.replace(config.database, pool_size=pool)
    )

    logs.apply(config)

    async def run() -> int:
        lp = Services.build(config)
        try:
            await refuse_unknown_schema(lp.engine, "lakeplane worker")
            sampler = metrics.start(lp)
            worker = Worker(
                lp,
                queues=args.queues,
                concurrency=concurrency,
                name=args.name,
                drain_timeout_s=args.drain_timeout,
                heartbeat=heartbeat_of(args, "worker"),
            )
            await worker.run()
            if sampler is not None:
                sampler.cancel()
        finally:
            await lp.engine.dispose()
        return 0

    return asyncio.run(run())
