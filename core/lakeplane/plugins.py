"""Finding plugins and the implementations they register.

Loading path: the hookspecs in :mod:`lakeplane.hookspecs` are added to a pluggy
manager; the core's built-in plugins are registered; every entry point in the
group ``lakeplane.plugins`` is loaded unless the config blocks it;
``check_pending()`` makes a misspelt hook fail loudly. Each plugin's register
hooks then hand their classes to a :class:`Registry`, keyed by role and name.
The config file picks an implementation per role by that name.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import pluggy

from lakeplane import hookspecs
from lakeplane.config import Config, PluginChoice, config_error
from lakeplane.errors import ConfigError
from lakeplane.interfaces import AuthProvider, Catalog, Component, Engine, ObjectStore, SecretStore

ENTRY_POINT_GROUP = "lakeplane.plugins"
BUILTIN_PLUGINS = ("lakeplane.builtins.noop", "lakeplane.builtins.database_secrets")
ROLES: dict[str, Any] = {
    "object_store": ObjectStore,
    "catalog": Catalog,
    "engine": Engine,
    "auth": AuthProvider,
    "secret_store": SecretStore,
}
_REGISTER_HOOKS = {
    "object_store": "lakeplane_register_object_stores",
    "catalog": "lakeplane_register_catalogs",
    "engine": "lakeplane_register_engines",
    "auth": "lakeplane_register_auth_providers",
    "secret_store": "lakeplane_register_secret_stores",
}

C = TypeVar("C", bound=Component)


@dataclass(frozen=True)
class Implementation:
    role: str
    name: str
    #: A :class:`Component` subclass, or a :class:`SecretStore` subclass for ``secret_store``.
    cls: type[Any]
    plugin: str
    distribution: str | None
    version: str | None


@dataclass
class Registry:
    """Implementation classes by role and name, with the plugin each came from."""

    by_role: dict[str, dict[str, Implementation]] = field(
        default_factory=lambda: {role: {} for role in ROLES}
    )
    _plugin: str = ""
    _dist: tuple[str | None, str | None] = (None, None)

    def add(self, cls: type[Component] | type[SecretStore]) -> None:
        role = cls.role
        if role not in ROLES or not issubclass(cls, ROLES[role]):
            raise ConfigError(f"plugin {self._plugin}", f"{cls.__qualname__} implements no known role")
        existing = self.by_role[role].get(cls.name)
        if existing is not None and existing.cls is not cls:
            raise ConfigError(
                f"plugin {self._plugin}",
                f"{role} {cls.name!r} is already provided by plugin {existing.plugin}",
            )
        self.by_role[role][cls.name] = Implementation(
            role, cls.name, cls, self._plugin, self._dist[0], self._dist[1]
        )

    def names(self, role: str) -> list[str]:
        return sorted(self.by_role[role])

    def get(self, role: str, name: str, key: str) -> Implementation:
        try:
            return self.by_role[role][name]
        except KeyError:
            available = ", ".join(self.names(role)) or "none installed"
            raise ConfigError(key, f"unknown plugin {name!r} (available: {available})") from None


@dataclass
class Plugins:
    manager: pluggy.PluginManager
    registry: Registry
    #: Entry points found, by name, with the distribution that ships each.
    entry_points: dict[str, tuple[str | None, str | None]]

    def web_routes(self) -> list[Any]:
        return [route for routes in self.manager.hook.lakeplane_web_routes() for route in routes]

    def template_dirs(self) -> list[str]:
        return [d for dirs in self.manager.hook.lakeplane_template_dirs() for d in dirs]


def load(blocked: Iterable[str] = (), extra: Iterable[object] = ()) -> Plugins:
    """Build the plugin manager and fill the registry. ``extra`` registers modules directly."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    blocked = set(blocked)
    for name in blocked:
        manager.set_blocked(name)
    dists: dict[str, tuple[str | None, str | None]] = {}
    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        manager.register(module, name=module_name)
        dists[module_name] = ("lakeplane", _version("lakeplane"))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked or manager.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not take the service down silently
            raise ConfigError(f"plugin {ep.name}", f"failed to import {ep.value}: {exc}") from exc
        manager.register(module, name=ep.name)
        dist = ep.dist
        dists[ep.name] = (dist.name if dist else None, dist.version if dist else None)
    for extra_module in extra:
        name = getattr(extra_module, "__name__", repr(extra_module))
        manager.register(extra_module, name=name)
        dists[name] = (None, None)
    manager.check_pending()

    registry = Registry()
    for role, hook_name in _REGISTER_HOOKS.items():
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            registry._plugin = impl.plugin_name
            registry._dist = dists.get(impl.plugin_name, (None, None))
            impl.function(registry=registry)
            for registered in registry.by_role[role].values():
                if registered.role != role:
                    raise ConfigError(f"plugin {impl.plugin_name}", f"{hook_name} added a {registered.role}")
    return Plugins(manager, registry, dists)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Selected:
    """An implementation chosen by the config, with its decoded options."""

    impl: Implementation
    options: Any
    key: str

    def create(self, params: Any) -> Component:
        component: Component = self.impl.cls(params, self.options)
        return component


@dataclass(frozen=True)
class Selection:
    object_store: Selected
    catalog: Selected
    auth: Selected
    engines: dict[str, Selected]
    secret_store: Selected

    def all(self) -> list[Selected]:
        return [self.object_store, self.catalog, self.auth, *self.engines.values(), self.secret_store]

    def for_plugin(self, role: str, plugin: str) -> Selected | None:
        for selected in self.all():
            if selected.impl.role == role and selected.impl.name == plugin:
                return selected
        return None

    def engine_for_job_type(self, job_type: str) -> Selected | None:
        for selected in self.engines.values():
            impl_cls = selected.impl.cls
            assert issubclass(impl_cls, Engine)
            if job_type in impl_cls.job_types:
                return selected
        return None


def select(config: Config, registry: Registry) -> Selection:
    """Resolve each role's ``plugin`` name and decode its ``options``."""

    def pick(role: str, choice: PluginChoice, key: str) -> Selected:
        impl = registry.get(role, choice.plugin, f"{key}.plugin")
        raw = dict(choice.options)
        if role == "object_store":
            # The platform's own store (run logs) is configured here too: its connection
            # parameters sit beside the plugin's options, plus the bucket to use.
            option_names = set(impl.cls.Options.__struct_fields__)
            param_names = set(impl.cls.Params.__struct_fields__) | {"bucket"}
            for name in sorted(set(raw) - option_names):
                if name not in param_names:
                    raise ConfigError(f"{key}.options.{name}", "unknown key")
            raw = {k: v for k, v in raw.items() if k in option_names}
        try:
            options = msgspec.convert(raw, impl.cls.Options)
        except msgspec.ValidationError as exc:
            raise config_error(exc, prefix=f"{key}.options") from None
        return Selected(impl, options, key)

    engines = {name: pick("engine", choice, f"engines.{name}") for name, choice in config.engines.items()}
    # The noop engine is always available: pipelines and benchmarks rely on it.
    if "noop" in registry.by_role["engine"] and not any(s.impl.name == "noop" for s in engines.values()):
        engines["noop"] = pick("engine", PluginChoice(plugin="noop"), "engines.noop")
    return Selection(
        object_store=pick("object_store", config.object_store, "object_store"),
        catalog=pick("catalog", config.catalog, "catalog"),
        auth=pick("auth", config.auth, "auth"),
        engines=engines,
        secret_store=pick("secret_store", config.secret_store, "secret_store"),
    )


def describe(plugins: Plugins, selection: Selection | None) -> list[dict[str, Any]]:
    """What is installed and what is selected, for ``lakeplane plugins`` and the API."""
    chosen = {(s.impl.role, s.impl.name): s.key for s in selection.all()} if selection else {}
    rows = []
    for role, impls in plugins.registry.by_role.items():
        for name, impl in sorted(impls.items()):
            rows.append(
                {
                    "role": role,
                    "name": name,
                    "plugin": impl.plugin,
                    "distribution": impl.distribution,
                    "version": impl.version,
                    "description": impl.cls.description,
                    "selected": (role, name) in chosen,
                    "config_key": chosen.get((role, name)),
                }
            )
    return rows
