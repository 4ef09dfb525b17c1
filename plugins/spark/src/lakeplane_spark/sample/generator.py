"""Smart-meter readings, deterministic for a seed, with a known number of bad rows.

Each meter reports every 15 minutes: ``meter_id,ts,kwh,quality,region``. About
``bad_fraction`` of the rows are broken on purpose, one defect each, so an ingest
job has something to reject and a test knows how many it must reject:

- ``ts`` that is not a timestamp;
- ``kwh`` that is not a number, negative, or absurdly large;
- a ``quality`` flag outside ``A`` (actual), ``E`` (estimated), ``S`` (substituted);
- a region not served; an empty ``meter_id``.

The same ``(rows, seed, bad_fraction)`` always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

HEADER = "meter_id,ts,kwh,quality,region"
REGIONS = ("north", "south", "east", "west", "central")
QUALITY_FLAGS = ("A", "A", "A", "A", "A", "A", "A", "A", "E", "S")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
INTERVAL = dt.timedelta(minutes=15)
#: Readings above this are meter faults; the ingest job rejects them.
MAX_KWH = 100.0
DEFECTS = ("bad_ts", "bad_kwh", "negative_kwh", "huge_kwh", "bad_quality", "bad_region", "no_meter")


@dataclass(frozen=True)
class SampleStats:
    rows: int
    bad_rows: int

    @property
    def good_rows(self) -> int:
        return self.rows - self.bad_rows


def readings(
    rows: int = 20_000, seed: int = 42, bad_fraction: float = 0.01, meters: int = 500
) -> Iterator[str]:
    """The CSV lines, without the header."""
    for line, _bad in _lines(rows, seed, bad_fraction, meters):
        yield line


def write_csv(
    out: IO[str], rows: int = 20_000, seed: int = 42, bad_fraction: float = 0.01, meters: int = 500
) -> SampleStats:
    """Write the header and ``rows`` readings to ``out``; return how many are bad."""
    if not 0 <= bad_fraction < 1:
        raise ValueError("bad_fraction must be in [0, 1)")
    out.write(HEADER + "\n")
    bad = 0
    batch: list[str] = []
    for line, is_bad in _lines(rows, seed, bad_fraction, meters):
        bad += is_bad
        batch.append(line)
        if len(batch) >= 10_000:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
    return SampleStats(rows=rows, bad_rows=bad)


def _lines(rows: int, seed: int, bad_fraction: float, meters: int) -> Iterator[tuple[str, bool]]:
    rng = random.Random(seed)
    meter_ids = [f"MTR-{n:06d}" for n in range(1, meters + 1)]
    meter_region = {m: REGIONS[rng.randrange(len(REGIONS))] for m in meter_ids}
    # Households differ: each meter has its own typical load.
    base_load = {m: rng.uniform(0.05, 0.6) for m in meter_ids}
    stamp, daily = "", 1.0
    for n in range(rows):
        meter = meter_ids[n % meters]
        if n % meters == 0:  # every meter reports once per interval
            when = START + (n // meters) * INTERVAL
            stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            daily = 1.6 if 17 <= when.hour < 22 else 0.5 if when.hour < 6 else 1.0
        fields = [
            meter,
            stamp,
            f"{base_load[meter] * daily * rng.uniform(0.7, 1.3):.3f}",
            QUALITY_FLAGS[rng.randrange(len(QUALITY_FLAGS))],
            meter_region[meter],
        ]
        is_bad = rng.random() < bad_fraction
        if is_bad:
            _break(fields, DEFECTS[rng.randrange(len(DEFECTS))], rng)
        yield ",".join(fields), is_bad


def _break(fields: list[str], defect: str, rng: random.Random) -> None:
    if defect == "bad_ts":
        fields[1] = rng.choice(["2026-13-45T99:00:00Z", "yesterday", ""])
    elif defect == "bad_kwh":
        fields[2] = rng.choice(["n/a", "", "1.2.3"])
    elif defect == "negative_kwh":
        fields[2] = f"-{rng.uniform(0.1, 5):.3f}"
    elif defect == "huge_kwh":
        fields[2] = f"{rng.uniform(MAX_KWH + 1, 10 * MAX_KWH):.3f}"
    elif defect == "bad_quality":
        fields[3] = rng.choice(["X", "?", ""])
    elif defect == "bad_region":
        fields[4] = rng.choice(["atlantis", ""])
    elif defect == "no_meter":
        fields[0] = ""
