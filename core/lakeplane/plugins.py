"""Finding plugins and the implementations they register.

Loading path: the hookspecs in :mod:`lakeplane.hookspecs` are added to a pluggy
manager; the core's built-in plugins are registered; every entry point in the
group ``lakeplane.plugins`` is loaded unless ``[plugins]`` blocks it or leaves it
off a non-empty allow list; ``check_pending()`` makes a misspelt hook fail loudly.
Each plugin's register hooks then hand their classes to a :class:`Registry`,
keyed by kind and name; a class's kind is the interface it subclasses (:data:`KINDS`).
The config file picks an implementation per kind by that name.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pluggy

from lakeplane import hookspecs
from lakeplane.config import Config, PluginChoice, PluginsConfig, config_error
from lakeplane.errors import ConfigError
from lakeplane.interfaces import AuthProvider, Catalog, Component, Engine, ObjectStore, SecretStore

ENTRY_POINT_GROUP = "lakeplane.plugins"
#: Part of the core: loaded whatever the allow list says, unless blocked.
BUILTIN_PLUGINS = ("lakeplane.builtins.noop", "lakeplane.builtins.database_secrets")


def _no_other_keys(cls: type[Any]) -> frozenset[str]:
    return frozenset()


def _platform_store_keys(cls: type[Any]) -> frozenset[str]:
    """The platform's own store (run logs) is configured in the same table: its connection
    parameters and the bucket to use sit beside the plugin's options."""
    return frozenset(cls.Params.__struct_fields__) | {"bucket"}


@dataclass(frozen=True)
class Kind:
    """A kind of implementation: the interface its classes subclass, the hook that registers them."""

    interface: type[Any]
    hook: str
    #: Keys the config's ``options`` table may hold besides the implementation's ``Options``;
    #: they are read by whoever needs them, not decoded into the options.
    other_option_keys: Callable[[type[Any]], frozenset[str]] = _no_other_keys

    @property
    def name(self) -> str:
        """``object_store``, ``catalog``, ...: the ``kind`` the interface declares."""
        name: str = self.interface.kind
        return name


KINDS = (
    Kind(ObjectStore, "lakeplane_register_object_stores", _platform_store_keys),
    Kind(Catalog, "lakeplane_register_catalogs"),
    Kind(Engine, "lakeplane_register_engines"),
    Kind(AuthProvider, "lakeplane_register_auth_providers"),
    Kind(SecretStore, "lakeplane_register_secret_stores"),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}


@dataclass(frozen=True)
class Implementation:
    kind: str
    name: str
    #: A :class:`Component` subclass, or a :class:`SecretStore` subclass for ``secret_store``.
    cls: type[Any]
    plugin: str
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class _Caller:
    """The plugin hook now adding classes, and the kind that hook is for."""

    plugin: str
    distribution: tuple[str | None, str | None]
    kind: Kind | None


@dataclass
class Registry:
    """Implementation classes by kind and name, with the plugin each came from."""

    by_kind: dict[str, dict[str, Implementation]] = field(
        default_factory=lambda: {kind.name: {} for kind in KINDS}
    )
    #: Plugins found but not loaded, with the config key that kept each out.
    not_loaded: dict[str, str] = field(default_factory=dict)
    _caller: _Caller = _Caller("", (None, None), None)

    def add(self, cls: type[Component] | type[SecretStore]) -> None:
        caller = self._caller
        kind = self._kind_of(cls)
        if caller.kind is not None and kind is not caller.kind:
            raise ConfigError(
                f"plugin {caller.plugin}",
                f"{caller.kind.hook} added {cls.__qualname__}, whose kind is {kind.name}; "
                f"add it from {kind.hook}",
            )
        existing = self.by_kind[kind.name].get(cls.name)
        if existing is not None and existing.cls is not cls:
            raise ConfigError(
                f"plugin {caller.plugin}",
                f"{kind.name} {cls.name!r} is already provided by plugin {existing.plugin}",
            )
        self.by_kind[kind.name][cls.name] = Implementation(
            kind.name, cls.name, cls, caller.plugin, *caller.distribution
        )

    def _kind_of(self, cls: type[Any]) -> Kind:
        kinds = [kind for kind in KINDS if isinstance(cls, type) and issubclass(cls, kind.interface)]
        if len(kinds) != 1:
            interfaces = ", ".join(kind.interface.__name__ for kind in kinds or KINDS)
            what = "subclasses more than one of" if kinds else "subclasses none of"
            raise ConfigError(f"plugin {self._caller.plugin}", f"{cls!r} {what} {interfaces}")
        return kinds[0]

    @contextlib.contextmanager
    def _adding_for(
        self, plugin: str, distribution: tuple[str | None, str | None], kind: Kind
    ) -> Iterator[Registry]:
        """Classes added meanwhile come from ``plugin``'s hook for ``kind``; another kind is refused."""
        self._caller = _Caller(plugin, distribution, kind)
        try:
            yield self
        finally:
            self._caller = _Caller("", (None, None), None)

    def names(self, kind: str) -> list[str]:
        return sorted(self.by_kind[kind])

    def get(self, kind: str, name: str, key: str) -> Implementation:
        try:
            return self.by_kind[kind][name]
        except KeyError:
            available = ", ".join(self.names(kind)) or "none installed"
            skipped = ", ".join(f"{plugin} ({why})" for plugin, why in sorted(self.not_loaded.items()))
            if skipped:
                available += f"; not loaded: {skipped}"
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


def load(settings: PluginsConfig | None = None, extra: Iterable[object] = ()) -> Plugins:
    """Build the plugin manager and fill the registry. ``extra`` registers modules directly."""
    settings = settings or PluginsConfig()
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in settings.blocked:
        manager.set_blocked(name)
    not_loaded: dict[str, str] = {}
    dists: dict[str, tuple[str | None, str | None]] = {}
    for module_name in BUILTIN_PLUGINS:
        if module_name in settings.blocked:
            not_loaded[module_name] = "in plugins.blocked"
            continue
        module = importlib.import_module(module_name)
        manager.register(module, name=module_name)
        dists[module_name] = ("lakeplane", _version("lakeplane"))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if manager.get_plugin(ep.name) is not None:
            continue
        refusal = _refusal(ep.name, settings)
        if refusal:
            not_loaded[ep.name] = refusal
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

    registry = Registry(not_loaded=not_loaded)
    for kind in KINDS:
        for impl in getattr(manager.hook, kind.hook).get_hookimpls():
            with registry._adding_for(impl.plugin_name, dists.get(impl.plugin_name, (None, None)), kind):
                impl.function(registry=registry)
    return Plugins(manager, registry, dists)


def _refusal(entry_point: str, settings: PluginsConfig) -> str | None:
    """Why the config keeps an installed plugin out, or ``None`` when it may load."""
    if entry_point in settings.blocked:
        return "in plugins.blocked"
    if settings.allowed and entry_point not in settings.allowed:
        return "not in plugins.allowed"
    return None


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

    def for_plugin(self, kind: str, plugin: str) -> Selected | None:
        for selected in self.all():
            if selected.impl.kind == kind and selected.impl.name == plugin:
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
    """Resolve each kind's ``plugin`` name and decode its ``options``."""

    def pick(kind_name: str, choice: PluginChoice, key: str) -> Selected:
        kind = KIND_BY_NAME[kind_name]
        impl = registry.get(kind.name, choice.plugin, f"{key}.plugin")
        read_elsewhere = kind.other_option_keys(impl.cls) - set(impl.cls.Options.__struct_fields__)
        raw = {k: v for k, v in choice.options.items() if k not in read_elsewhere}
        try:
            options = msgspec.convert(raw, impl.cls.Options)
        except msgspec.ValidationError as exc:
            raise config_error(exc, prefix=f"{key}.options") from None
        return Selected(impl, options, key)

    engines = {
        name: pick("engine", choice, f"engines.{name}") for name, choice in config.enabled_engines().items()
    }
    return Selection(
        object_store=pick("object_store", config.object_store, "object_store"),
        catalog=pick("catalog", config.catalog, "catalog"),
        auth=pick("auth", config.auth, "auth"),
        engines=engines,
        secret_store=pick("secret_store", config.secret_store, "secret_store"),
    )


def describe(plugins: Plugins, selection: Selection | None) -> list[dict[str, Any]]:
    """What is installed and what is selected, for ``lakeplane plugins`` and the API."""
    chosen = {(s.impl.kind, s.impl.name): s.key for s in selection.all()} if selection else {}
    rows = []
    for kind, impls in plugins.registry.by_kind.items():
        for name, impl in sorted(impls.items()):
            rows.append(
                {
                    "role": kind,  # the listing's field name since the first release
                    "name": name,
                    "plugin": impl.plugin,
                    "distribution": impl.distribution,
                    "version": impl.version,
                    "description": impl.cls.description,
                    "selected": (kind, name) in chosen,
                    "config_key": chosen.get((kind, name)),
                }
            )
    return rows
