"""How much ``local up`` adds over its slowest component, with a warm download cache.

``up`` starts the components in parallel, so all-ready should take little longer than
the slowest one (Trino). One run, in a fresh stack directory on free ports:

``up``         wall time of ``LocalStack.up()`` until every component is healthy;
``slowest``    the slowest component's own time from its start to healthy, in that run;
``alone``      with ``--alone``: after ``down``, that component started by itself, so the
               others' start-up no longer competes with it for the two cores.

Target: ``up`` / ``slowest`` <= 1.2.

    .venv/bin/python bench/local_stack.py                 # with the API and worker
    .venv/bin/python bench/local_stack.py --without-api --alone
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lakeplane.local import LocalStack
from lakeplane.local.stack import free_stack_ports
from lakeplane.local.trino import ensure_installed

TARGET = 1.2


async def bench(with_api: bool, alone: bool) -> float:
    await ensure_installed(progress=print)  # warm the cache first: downloads are not what we measure
    root = Path(tempfile.mkdtemp(prefix="lakeplane-bench-"))
    stack = LocalStack(root / "stack", ports=free_stack_ports(), with_api=with_api)
    try:
        began = time.monotonic()
        results = await stack.up()
        total = time.monotonic() - began
        await stack.down()
        slowest = max(results, key=lambda result: result.seconds)
        print(f"local up, warm cache, {len(results)} components: {total:.1f} s")
        for result in sorted(results, key=lambda result: -result.seconds):
            print(f"  {result.name:<10} {result.seconds:6.1f} s")
        ratio = total / slowest.seconds
        print(
            f"up / slowest ({slowest.name}): {total:.1f} / {slowest.seconds:.1f} = {ratio:.2f}x "
            f"(target <= {TARGET}x)"
        )
        if alone:
            component = next(c for c in stack.components() if c.name == slowest.name)
            single = await component.start()
            await component.stop()
            print(f"{slowest.name} alone: {single.seconds:.1f} s; up / alone = {total / single.seconds:.2f}x")
        return ratio
    finally:
        await stack.down()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--without-api", action="store_true", help="data plane only")
    parser.add_argument("--alone", action="store_true", help="also time the slowest component by itself")
    args = parser.parse_args()
    ratio = asyncio.run(bench(with_api=not args.without_api, alone=args.alone))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
