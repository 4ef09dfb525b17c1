"""Entry point of the ``oidc`` plugin: registers :class:`OidcAuthProvider` as ``oidc``."""

from __future__ import annotations

from lakeplane.hookspecs import hookimpl
from lakeplane.plugins import Registry
from lakeplane_oidc.provider import OidcAuthProvider


@hookimpl
def lakeplane_register_auth_providers(registry: Registry) -> None:
    registry.add(OidcAuthProvider)
