"""Every hook a Lakeplane plugin can implement; ``docs/plugins.md`` documents each one.

Hooks only *register*: they hand classes to a registry and do no I/O. I/O happens
in the async methods of the interfaces in :mod:`lakeplane.interfaces`. A plugin is
a module with ``@hookimpl`` functions, published under the entry-point group
``lakeplane.plugins``::

    [project.entry-points."lakeplane.plugins"]
    trino = "lakeplane_trino.plugin"

Each ``lakeplane_register_*`` hook is for one kind of implementation
(:data:`lakeplane.plugins.KINDS`): a class of another kind added from it is a
:class:`~lakeplane.errors.ConfigError`. None of the hooks is ``firstresult``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lakeplane.plugins import Registry

PROJECT = "lakeplane"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lakeplane_register_object_stores(registry: Registry) -> None:
    """Add :class:`~lakeplane.interfaces.ObjectStore` classes with ``registry.add``."""


@hookspec
def lakeplane_register_catalogs(registry: Registry) -> None:
    """Add :class:`~lakeplane.interfaces.Catalog` classes with ``registry.add``."""


@hookspec
def lakeplane_register_engines(registry: Registry) -> None:
    """Add :class:`~lakeplane.interfaces.Engine` classes with ``registry.add``."""


@hookspec
def lakeplane_register_auth_providers(registry: Registry) -> None:
    """Add :class:`~lakeplane.interfaces.AuthProvider` classes with ``registry.add``."""


@hookspec
def lakeplane_register_secret_stores(registry: Registry) -> None:
    """Add :class:`~lakeplane.interfaces.SecretStore` classes with ``registry.add``."""


@hookspec
def lakeplane_web_routes() -> list[Any]:
    """Litestar route handlers or routers to mount in the web app (the admin UI uses this).

    Every handler must declare its permission in ``opt={"permission": ...}``.
    """
    raise NotImplementedError


@hookspec
def lakeplane_template_dirs() -> list[str]:
    """Directories of Jinja templates, searched in registration order."""
    raise NotImplementedError
