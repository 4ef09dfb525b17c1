"""The entry point: registers the ``spark`` engine."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_spark.engine import SparkEngine


@hookimpl
def lakeplane_register_engines(registry: Registry) -> None:
    registry.add(SparkEngine)
