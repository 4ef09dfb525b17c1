"""Entry point of the ``lakeplane-plugin-s3`` distribution: registers the ``s3`` object store."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_s3.store import S3ObjectStore


@hookimpl
def lakeplane_register_object_stores(registry: Registry) -> None:
    registry.add(S3ObjectStore)
