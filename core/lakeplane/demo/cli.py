"""lakeplane demo."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from lakeplane.local.stack import default_data_dir


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="bring up the local stack, ingest sample data with Spark, aggregate it with Trino",
    )
    demo.add_argument("--data-dir", default=None, help="stack directory (default: $LAKEPLANE_DATA_DIR)")
    demo.add_argument("--rows", type=int, default=20_000, help="sample readings to generate (default 20000)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from lakeplane.demo.flow import Demo

    if args.rows < 100 or args.rows > 20_000_000:
        raise SystemExit("lakeplane: error: --rows must be between 100 and 20000000")
    return asyncio.run(Demo(args.data_dir or default_data_dir(), rows=args.rows).run())
