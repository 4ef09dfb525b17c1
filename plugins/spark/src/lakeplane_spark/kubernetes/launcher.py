"""Runs a job's Python application after putting secret Spark conf into the session.

Shipped to the driver in the run's ConfigMap and used as spark-submit's main file:
``launcher.py APP [ARGS...]``. Spark conf cannot refer to environment variables, and
a secret must not be written into a pod spec or a SparkApplication, so the driver
gets secrets as environment variables from a Kubernetes Secret and this launcher
copies them into the conf before the application creates its SparkSession
(``LAKEPLANE_SECRET_CONF`` maps each conf key to the variable holding its value).

Runs inside Spark with nothing but PySpark: it must not import Lakeplane.
"""

from __future__ import annotations

import json
import os
import runpy
import sys


def main() -> None:
    app, *args = sys.argv[1:]
    secret_conf = json.loads(os.environ.get("LAKEPLANE_SECRET_CONF", "{}"))
    if secret_conf:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        for key, variable in secret_conf.items():
            builder = builder.config(key, os.environ[variable])
        builder.getOrCreate()  # the application's getOrCreate() returns this session
    sys.argv = [app, *args]
    runpy.run_path(app, run_name="__main__")


if __name__ == "__main__":
    main()
