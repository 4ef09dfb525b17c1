"""``python -m lakeplane_spark.sample OUT.csv [--rows N] [--seed S]``: write sample readings."""

from __future__ import annotations

import argparse
import sys

from lakeplane_spark.sample.generator import write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeplane_spark.sample", description=__doc__)
    parser.add_argument("out", help="CSV file to write, or - for stdout")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-fraction", type=float, default=0.01)
    args = parser.parse_args(argv)
    if args.out == "-":
        stats = write_csv(sys.stdout, args.rows, args.seed, args.bad_fraction)
    else:
        with open(args.out, "w", newline="") as out:
            stats = write_csv(out, args.rows, args.seed, args.bad_fraction)
    print(f"{stats.rows} rows, {stats.bad_rows} bad", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
