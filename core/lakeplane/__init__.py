"""Lakeplane: an on-prem control plane for Iceberg tables, Trino SQL and Spark batch jobs."""

__version__ = "0.1.0"
