"""Sample smart-meter data and the PySpark job that ingests it into Iceberg.

``INGEST_JOB`` is the path of the shipped job file: upload it to the object store
(or bake it into the driver image) and name it as a ``spark_batch`` job's application.
"""

from __future__ import annotations

from pathlib import Path

from lakeplane_spark.sample.generator import HEADER, SampleStats, readings, write_csv

INGEST_JOB = Path(__file__).with_name("ingest_meter_readings.py")

__all__ = ["HEADER", "INGEST_JOB", "SampleStats", "readings", "write_csv"]
