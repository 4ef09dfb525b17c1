"""Spark batch jobs for Lakeplane: ``spark-submit`` on this host, or a driver on Kubernetes."""

from lakeplane_spark.engine import SparkEngine
from lakeplane_spark.params import SparkOptions, SparkParams
from lakeplane_spark.spec import Resources, SparkBatchSpec

__all__ = ["Resources", "SparkBatchSpec", "SparkEngine", "SparkOptions", "SparkParams"]
