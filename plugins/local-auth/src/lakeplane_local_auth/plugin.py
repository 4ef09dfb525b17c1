"""Entry point of the ``local-auth`` plugin: registers :class:`LocalAuthProvider` as ``local``."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_local_auth.provider import LocalAuthProvider


@hookimpl
def lakeplane_register_auth_providers(registry: Registry) -> None:
    registry.add(LocalAuthProvider)
