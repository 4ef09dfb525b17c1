"""Ingest raw smart-meter readings (CSV) into a partitioned Iceberg table.

Usage: ``ingest_meter_readings.py SOURCE TABLE``, e.g.
``s3://raw/meter-readings/2026-01.csv lake.energy.meter_readings``.

Every row is cast and checked; good rows go to TABLE (partitioned by day and
region), bad rows with the reason to ``TABLE_rejects``. Both writes replace what an
earlier run of the same SOURCE wrote, so re-running is safe. The last line printed
is a JSON object with the counts, which Lakeplane shows on the run.

This file runs inside Spark with nothing but PySpark: it must not import Lakeplane.
"""

from __future__ import annotations

import argparse
import json
import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

RAW_COLUMNS = ("meter_id", "ts", "kwh", "quality", "region")
REGIONS = ("north", "south", "east", "west", "central")
QUALITY_FLAGS = ("A", "E", "S")
MAX_KWH = 100.0
TS_FORMAT = "yyyy-MM-dd'T'HH:mm:ssX"
#: ``catalog.namespace.table``: checked, because it is written into SQL statements.
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){2}")


def parse(raw: DataFrame) -> DataFrame:
    """Typed columns plus ``reject_reason``: null for a good row, else the first defect found."""
    ts = F.try_to_timestamp(F.col("ts"), F.lit(TS_FORMAT))
    kwh = F.expr("try_cast(kwh AS DOUBLE)")
    checks = [
        (F.col("meter_id").isNull() | ~F.col("meter_id").rlike(r"^MTR-[0-9]{6}$"), "bad meter_id"),
        (ts.isNull(), "bad ts"),
        (kwh.isNull(), "bad kwh"),
        ((kwh < 0) | (kwh > MAX_KWH), "kwh out of range"),
        (F.col("quality").isNull() | ~F.col("quality").isin(*QUALITY_FLAGS), "bad quality flag"),
        (F.col("region").isNull() | ~F.col("region").isin(*REGIONS), "unknown region"),
    ]
    reason = F.lit(None).cast("string")
    for failed, message in reversed(checks):
        reason = F.when(failed, F.lit(message)).otherwise(reason)
    return raw.select(
        *(F.col(c).alias(f"raw_{c}") for c in RAW_COLUMNS),
        F.col("meter_id"),
        ts.alias("ts"),
        kwh.alias("kwh"),
        F.col("quality"),
        F.col("region"),
        reason.alias("reject_reason"),
    )


def ensure_tables(spark: SparkSession, table: str) -> None:
    namespace = table.rsplit(".", 1)[0]
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {namespace}")
    spark.sql(
        f"""CREATE TABLE IF NOT EXISTS {table} (
              meter_id STRING NOT NULL, ts TIMESTAMP NOT NULL, kwh DOUBLE NOT NULL,
              quality STRING NOT NULL, region STRING NOT NULL)
            USING iceberg PARTITIONED BY (days(ts), region)"""
    )
    spark.sql(
        f"""CREATE TABLE IF NOT EXISTS {table}_rejects (
              source STRING, reject_reason STRING, meter_id STRING, ts STRING,
              kwh STRING, quality STRING, region STRING)
            USING iceberg"""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Ingest smart-meter readings into Iceberg")
    parser.add_argument("source", help="CSV file or directory, e.g. s3://raw/readings.csv")
    parser.add_argument("table", help="catalog.namespace.table, e.g. lake.energy.meter_readings")
    args = parser.parse_args()
    if not TABLE_NAME.fullmatch(args.table):
        parser.error(f"table must be catalog.namespace.table, got {args.table!r}")

    spark = SparkSession.builder.appName("ingest_meter_readings").getOrCreate()
    schema = StructType([StructField(c, StringType()) for c in RAW_COLUMNS])
    raw = spark.read.option("header", "true").option("mode", "PERMISSIVE").schema(schema).csv(args.source)
    parsed = parse(raw).persist()

    ensure_tables(spark, args.table)
    good = parsed.where(F.col("reject_reason").isNull()).select("meter_id", "ts", "kwh", "quality", "region")
    rejects = parsed.where(F.col("reject_reason").isNotNull()).select(
        F.lit(args.source).alias("source"),
        "reject_reason",
        *(F.col(f"raw_{c}").alias(c) for c in RAW_COLUMNS),
    )
    # Replacing what this source wrote before makes a re-run safe: the readings' day and
    # region partitions, and the rejects' rows of this source.
    good.sortWithinPartitions("region", "ts").writeTo(args.table).overwritePartitions()
    delete = f"DELETE FROM {args.table}_rejects WHERE source = :source"  # noqa: S608 - name checked above
    spark.sql(delete, args={"source": args.source})
    rejects.writeTo(f"{args.table}_rejects").append()

    counts = parsed.groupBy(F.col("reject_reason").isNull().alias("ok")).count().collect()
    by_ok = {row["ok"]: row["count"] for row in counts}
    print(
        json.dumps(
            {
                "rows_written": by_ok.get(True, 0),
                "rows_rejected": by_ok.get(False, 0),
                "table": args.table,
                "rejects_table": f"{args.table}_rejects",
            }
        ),
        flush=True,
    )
    spark.stop()


if __name__ == "__main__":
    main()
