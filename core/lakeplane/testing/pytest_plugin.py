"""Pytest fixtures for Lakeplane and its plugins, registered through the ``pytest11`` entry point.

Services start for real, once per test session, on free loopback ports:
``postgres_service``, ``seaweedfs_service``, ``trino_service`` (from
:mod:`lakeplane.testing.services`). On top of them: ``lakeplane_db_url`` (a fresh
migrated database), ``lakeplane_config`` and ``lakeplane_app``. A real Kubernetes API
server: ``kube_cluster`` and ``kube_namespace`` (from :mod:`lakeplane.testing.kube`,
registered as a plugin of its own so that its collection hooks run beside the others).
"""

from __future__ import annotations

import importlib.util

pytest_plugins = (
    ["lakeplane.testing.kube"] if importlib.util.find_spec("lakeplane.testing.kube") is not None else []
)

if importlib.util.find_spec("lakeplane.testing.services") is not None:
    from lakeplane.testing.services import *  # noqa: F403
if importlib.util.find_spec("lakeplane.testing.keycloak") is not None:
    from lakeplane.testing.keycloak import keycloak_service  # noqa: F401
if importlib.util.find_spec("lakeplane.testing.fixtures") is not None:
    from lakeplane.testing.fixtures import *  # noqa: F403
