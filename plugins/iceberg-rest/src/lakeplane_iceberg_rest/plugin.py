"""Entry point of ``lakeplane-plugin-iceberg-rest``: registers the ``iceberg-rest`` catalog."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_iceberg_rest.catalog import IcebergRestCatalog


@hookimpl
def lakeplane_register_catalogs(registry: Registry) -> None:
    registry.add(IcebergRestCatalog)
