"""The embedded local stack: real PostgreSQL, SeaweedFS (S3 + Iceberg REST) and Trino on loopback.

``lakeplane local up`` runs them from wheels and a verified Trino download, for
development, demos and tests; the same component classes back the pytest fixtures in
:mod:`lakeplane.testing.services`.
"""

from lakeplane.local.component import Component, ComponentStatus, Health, StartResult
from lakeplane.local.control_plane import LakeplaneApiComponent, LakeplaneWorkerComponent
from lakeplane.local.errors import (
    ComponentFailed,
    JavaNotFound,
    LocalStackError,
    PortInUse,
    StackBusy,
)
from lakeplane.local.postgres import ExternalPostgres, PostgresComponent
from lakeplane.local.seaweedfs import SeaweedFSComponent
from lakeplane.local.stack import DEFAULT_PORTS, LocalStack, default_data_dir
from lakeplane.local.trino import TrinoComponent, find_java

__all__ = [
    "DEFAULT_PORTS",
    "Component",
    "ComponentFailed",
    "ComponentStatus",
    "ExternalPostgres",
    "Health",
    "JavaNotFound",
    "LakeplaneApiComponent",
    "LakeplaneWorkerComponent",
    "LocalStack",
    "LocalStackError",
    "PortInUse",
    "PostgresComponent",
    "SeaweedFSComponent",
    "StackBusy",
    "StartResult",
    "TrinoComponent",
    "default_data_dir",
    "find_java",
]
