"""Lakeplane catalog for any Iceberg REST catalog, registered as ``iceberg-rest``."""

from lakeplane_iceberg_rest.catalog import IcebergRestCatalog, IcebergRestOptions, IcebergRestParams

__all__ = ["IcebergRestCatalog", "IcebergRestOptions", "IcebergRestParams"]
