"""Entry point of the ``lakeplane-plugin-trino`` distribution (group ``lakeplane.plugins``)."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_trino._engine import TrinoEngine


@hookimpl
def lakeplane_register_engines(registry: Registry) -> None:
    registry.add(TrinoEngine)
