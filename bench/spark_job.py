"""Spark ingest through the plugin against the same spark-submit run by hand.

One SeaweedFS (S3 + Iceberg REST catalog), one sample CSV (1M rows by default), the
shipped ingest job. Each round runs the job twice, in alternating order:

- *plugin*: ``SparkEngine.submit`` then ``status`` every 0.5 s until terminal (what
  the worker does), timed from the submit call to the terminal status;
- *by hand*: the exact spark-submit command and properties file the plugin builds,
  run with ``subprocess.run``, timed from start to exit.

Target: plugin / by hand <= 1.10 (medians). Spark's own start-up share is the time
from launch to the driver's "Registered BlockManager" log line (SparkContext up),
over the whole run, from the by-hand logs (log4j timestamps have 1 s resolution).

    .venv/bin/python bench/spark_job.py [--rows 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakeplane.interfaces import EngineState, Submission
from lakeplane.testing.services import running
from lakeplane_spark import SparkBatchSpec, SparkEngine, SparkParams
from lakeplane_spark.driverlog import failure_tail
from lakeplane_spark.jars import runtime_jars
from lakeplane_spark.local import LocalBackend, _properties_text
from lakeplane_spark.objects import s3_client
from lakeplane_spark.sample import INGEST_JOB, write_csv

POLL_S = 0.5
TABLE = "lake.bench.meter_readings"
SPARK_READY = "Registered BlockManager"


async def upload(params: SparkParams, csv_path: Path) -> str:
    async with s3_client(params) as client:
        await client.create_bucket(Bucket="raw")
        await client.put_object(Bucket="raw", Key="bench/readings.csv", Body=csv_path.read_bytes())
    return "s3://raw/bench/readings.csv"


async def through_plugin(
    params: SparkParams, spec: SparkBatchSpec, run: int
) -> tuple[float, float, dict[str, object]]:
    """(wall s, submit call s, stats) of one run through the engine."""
    async with SparkEngine(params) as engine:
        started = time.perf_counter()
        handle = await engine.submit(Submission(f"run_bench_{run}", 1, "bench", "spark_batch", spec))
        submit_s = time.perf_counter() - started
        while not (status := await engine.status(handle)).state.terminal:
            await asyncio.sleep(POLL_S)
        elapsed = time.perf_counter() - started
    if status.state is not EngineState.SUCCEEDED:
        raise SystemExit(f"plugin run failed: {status.message}")
    return elapsed, submit_s, status.stats


def by_hand(params: SparkParams, spec: SparkBatchSpec, workdir: Path, run: int) -> tuple[float, float]:
    """The plugin's command line and properties, run directly. Returns (wall s, start-up s)."""
    backend = LocalBackend(params)
    run_dir = workdir / f"by-hand-{run}"
    (run_dir / "tmp").mkdir(parents=True)
    (run_dir / "spark.properties").write_text(_properties_text(backend.properties(spec, run_dir)))
    command = backend.command(spec, run_dir, str(INGEST_JOB), runtime_jars())
    env = backend._env(Submission(f"run_hand_{run}", 1, "bench", "spark_batch", spec))
    log_path = run_dir / "driver.log"
    launched = dt.datetime.now()
    started = time.perf_counter()
    with log_path.open("wb") as log:
        result = subprocess.run(command, env=env, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"by-hand run failed:\n{failure_tail(log_path.read_text(errors='replace'))}")
    return elapsed, spark_startup_s(log_path.read_text(errors="replace"), launched)


def spark_startup_s(log: str, launched: dt.datetime) -> float:
    for line in log.splitlines():
        if SPARK_READY in line:
            stamp = dt.datetime.strptime(line[:17], "%y/%m/%d %H:%M:%S")
            return max(0.0, (stamp - launched.replace(microsecond=0)).total_seconds())
    return float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cores", type=int, default=None, help="local[N]; default local[*]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lakeplane-bench-spark-") as tmp, running() as services:
        workdir = Path(tmp)
        server = services.get("seaweedfs")
        params = SparkParams(
            catalog_uri=server.iceberg_uri,
            warehouse=server.warehouse,
            catalog_credential=server.credential,
            s3_endpoint=server.s3_endpoint,
            s3_access_key_id=server.access_key_id,
            s3_secret_access_key=server.secret_access_key,
            s3_region=server.region,
            local_work_dir=str(workdir / "runs"),
            local_cores=args.cores,
        )
        csv_path = workdir / "readings.csv"
        with csv_path.open("w") as out:
            sample = write_csv(out, rows=args.rows)
        source = await upload(params, csv_path)
        spec = SparkBatchSpec(application=f"local://{INGEST_JOB}", args=[source, TABLE])
        runtime_jars()  # the download is not part of either timing

        plugin_s, hand_s, startup_s, submit_s = [], [], [], []
        stats: dict[str, object] = {}
        for run in range(args.rounds):
            order = ("plugin", "hand") if run % 2 == 0 else ("hand", "plugin")
            for which in order:
                if which == "plugin":
                    elapsed, submitting, stats = await through_plugin(params, spec, run)
                    plugin_s.append(elapsed)
                    submit_s.append(submitting)
                else:
                    elapsed, startup = by_hand(params, spec, workdir, run)
                    hand_s.append(elapsed)
                    startup_s.append(startup)
                print(f"round {run + 1} {which}: {elapsed:.2f}s", file=sys.stderr, flush=True)

    plugin, hand = statistics.median(plugin_s), statistics.median(hand_s)
    startup = statistics.median(startup_s)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "bad_rows": sample.bad_rows,
                "rounds": args.rounds,
                "plugin_s": [round(x, 2) for x in plugin_s],
                "by_hand_s": [round(x, 2) for x in hand_s],
                "plugin_median_s": round(plugin, 2),
                "by_hand_median_s": round(hand, 2),
                "ratio": round(plugin / hand, 3),
                "plugin_submit_call_s": [round(x, 3) for x in submit_s],
                "target_ratio": 1.10,
                "spark_startup_s": startup_s,
                "spark_startup_share": round(startup / hand, 3),
                "stats": stats,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
