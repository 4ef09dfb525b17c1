"""The registry and plugin manager: kinds come from the interfaces, the config picks by name."""

from __future__ import annotations

import importlib.metadata
import inspect
import types
from typing import Any, ClassVar

import msgspec
import pytest

from lakeplane import hookspecs
from lakeplane import plugins as plugin_loading
from lakeplane.config import PluginsConfig, decode
from lakeplane.errors import ConfigError
from lakeplane.hookspecs import hookimpl
from lakeplane.interfaces import AuthProvider, Catalog, Component, Engine, ObjectStore, SecretStore
from lakeplane.testing.app import make_config

# Registration only: these classes are never instantiated, so their abstract methods stay open.


class StoreParams(msgspec.Struct, forbid_unknown_fields=True):
    endpoint_url: str = ""


class StoreOptions(msgspec.Struct, forbid_unknown_fields=True):
    retries: int = 1


class UnitObjectStore(ObjectStore):
    name: ClassVar[str] = "unit-store"
    Params = StoreParams
    Options = StoreOptions


class UnitCatalog(Catalog):
    name: ClassVar[str] = "unit-catalog"
    Params = StoreParams


class UnitAuthProvider(AuthProvider):
    name: ClassVar[str] = "unit-auth"
    Params = StoreParams


def plugin_module(name: str, **hooks: Any) -> types.ModuleType:
    """A plugin module, as an entry point would name one, with the given hook functions."""
    module = types.ModuleType(name)
    for hook_name, classes in hooks.items():

        def register(registry: plugin_loading.Registry, classes: tuple[type[Any], ...] = classes) -> None:
            for cls in classes:
                registry.add(cls)

        register.__name__ = hook_name
        setattr(module, hook_name, hookimpl(register))
    return module


UNIT_PLUGIN = plugin_module(
    "unit_plugin",
    lakeplane_register_object_stores=(UnitObjectStore,),
    lakeplane_register_catalogs=(UnitCatalog,),
    lakeplane_register_auth_providers=(UnitAuthProvider,),
)


def unit_config(**sections: dict[str, Any]) -> Any:
    chosen = {
        "object_store": {"plugin": "unit-store"},
        "catalog": {"plugin": "unit-catalog"},
        "auth": {"plugin": "unit-auth"},
    }
    merged = {name: {**chosen.get(name, {}), **values} for name, values in sections.items()}
    return make_config("postgresql+asyncpg://u@127.0.0.1:1/none", **{**chosen, **merged})


def installed_entry_points() -> list[str]:
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=plugin_loading.ENTRY_POINT_GROUP)})


def test_a_class_is_registered_under_the_kind_of_its_interface() -> None:
    registry = plugin_loading.load(extra=[UNIT_PLUGIN]).registry
    assert registry.by_kind["object_store"]["unit-store"].kind == "object_store"
    assert registry.by_kind["catalog"]["unit-catalog"].cls is UnitCatalog
    assert registry.by_kind["auth"]["unit-auth"].plugin == "unit_plugin"
    assert registry.by_kind["engine"]["noop"].plugin == "lakeplane.builtins.noop"
    assert registry.by_kind["secret_store"]["database"].kind == "secret_store"


def test_a_class_added_from_the_wrong_hook_is_refused() -> None:
    stray = plugin_module("stray_plugin", lakeplane_register_engines=(UnitCatalog,))
    with pytest.raises(ConfigError) as err:
        plugin_loading.load(extra=[stray])
    assert err.value.key == "plugin stray_plugin"
    assert "lakeplane_register_engines added UnitCatalog" in err.value.reason
    assert "catalog" in err.value.reason and "lakeplane_register_catalogs" in err.value.reason


def test_a_class_of_no_interface_is_refused() -> None:
    class Loose(Component):
        name: ClassVar[str] = "loose"

    stray = plugin_module("loose_plugin", lakeplane_register_engines=(Loose,))
    with pytest.raises(ConfigError) as err:
        plugin_loading.load(extra=[stray])
    assert err.value.key == "plugin loose_plugin"
    assert "subclasses none of" in err.value.reason and "Engine" in err.value.reason


def test_two_plugins_may_not_register_one_name() -> None:
    again = plugin_module("again_plugin", lakeplane_register_catalogs=(type("Other", (UnitCatalog,), {}),))
    with pytest.raises(ConfigError) as err:
        plugin_loading.load(extra=[UNIT_PLUGIN, again])
    assert "'unit-catalog' is already provided by plugin unit_plugin" in err.value.reason


def test_every_register_hook_is_the_hook_of_one_kind() -> None:
    specs = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)}
    register_hooks = {name for name in specs if name.startswith("lakeplane_register_")}
    assert sorted(kind.hook for kind in plugin_loading.KINDS) == sorted(register_hooks)
    interfaces = {kind.interface for kind in plugin_loading.KINDS}
    assert interfaces == {ObjectStore, Catalog, Engine, AuthProvider, SecretStore}
    assert {kind.name for kind in plugin_loading.KINDS} == {iface.kind for iface in interfaces}


def test_the_noop_engine_is_enabled_beside_the_configured_ones() -> None:
    registry = plugin_loading.load(extra=[UNIT_PLUGIN]).registry
    alone = plugin_loading.select(unit_config(), registry)
    assert {name: s.impl.name for name, s in alone.engines.items()} == {"noop": "noop"}
    assert alone.engines["noop"].key == "engines.noop"
    renamed = plugin_loading.select(unit_config(engines={"quick": {"plugin": "noop"}}), registry)
    assert {name: s.impl.name for name, s in renamed.engines.items()} == {"quick": "noop"}


def test_the_object_store_table_holds_the_platform_store_beside_its_options() -> None:
    registry = plugin_loading.load(extra=[UNIT_PLUGIN]).registry
    options = {"retries": 3, "endpoint_url": "http://127.0.0.1:1", "bucket": "logs"}
    selected = plugin_loading.select(unit_config(object_store={"options": options}), registry)
    assert selected.object_store.options == StoreOptions(retries=3)
    with pytest.raises(ConfigError) as err:
        plugin_loading.select(unit_config(object_store={"options": {"surprise": 1}}), registry)
    assert (err.value.key, err.value.reason) == ("object_store.options.surprise", "unknown key")
    # Only the object store's table carries connection parameters.
    with pytest.raises(ConfigError) as err:
        plugin_loading.select(unit_config(catalog={"options": {"endpoint_url": "x"}}), registry)
    assert (err.value.key, err.value.reason) == ("catalog.options.endpoint_url", "unknown key")


def test_the_plugins_table_decodes_allowed_and_refuses_unknown_keys() -> None:
    raw = make_config("postgresql+asyncpg://u@127.0.0.1:1/none")
    assert raw.plugins.allowed == [] and raw.plugins.blocked == []
    base = msgspec.to_builtins(raw)
    assert decode({**base, "plugins": {"allowed": ["s3"]}}).plugins.allowed == ["s3"]
    with pytest.raises(ConfigError) as err:
        decode({**base, "plugins": {"allowd": ["s3"]}})
    assert err.value.key == "plugins.allowd"


def test_an_allow_list_loads_only_the_plugins_it_names() -> None:
    names = installed_entry_points()
    if len(names) < 2:
        pytest.fail("needs two installed plugins: `make test` installs every plugin")
    kept, *others = names
    loaded = plugin_loading.load(PluginsConfig(allowed=[kept]))
    assert loaded.manager.get_plugin(kept) is not None
    for name in others:
        assert loaded.manager.get_plugin(name) is None
        assert loaded.registry.not_loaded[name] == "not in plugins.allowed"
    # The built-in plugins are part of the core: an allow list does not drop them.
    assert "noop" in loaded.registry.by_kind["engine"]
    assert "database" in loaded.registry.by_kind["secret_store"]
    everything = plugin_loading.load(PluginsConfig(allowed=[]))
    assert all(everything.manager.get_plugin(name) is not None for name in names)


def test_a_blocked_plugin_is_not_loaded_even_when_allowed() -> None:
    names = installed_entry_points()
    if not names:
        pytest.fail("needs an installed plugin: `make test` installs every plugin")
    loaded = plugin_loading.load(PluginsConfig(allowed=names[:1], blocked=names[:1]))
    assert loaded.manager.get_plugin(names[0]) is None
    assert loaded.registry.not_loaded == {name: "not in plugins.allowed" for name in names[1:]} | {
        names[0]: "in plugins.blocked"
    }


def test_an_implementation_kept_out_by_the_config_is_named_in_the_error() -> None:
    registry = plugin_loading.load(
        PluginsConfig(blocked=["lakeplane.builtins.database_secrets"]), extra=[UNIT_PLUGIN]
    ).registry
    with pytest.raises(ConfigError) as err:
        plugin_loading.select(unit_config(), registry)
    assert err.value.key == "secret_store.plugin"
    assert "unknown plugin 'database'" in err.value.reason
    assert "not loaded: lakeplane.builtins.database_secrets (in plugins.blocked)" in err.value.reason
    assert "\n" not in str(err.value)


def test_a_plugin_left_off_the_allow_list_is_named_when_the_config_needs_it() -> None:
    names = installed_entry_points()
    if "trino" not in names:
        pytest.fail("needs the trino plugin: `make test` installs every plugin")
    allowed = [name for name in names if name != "trino"]
    registry = plugin_loading.load(PluginsConfig(allowed=allowed), extra=[UNIT_PLUGIN]).registry
    with pytest.raises(ConfigError) as err:
        plugin_loading.select(unit_config(engines={"sql": {"plugin": "trino"}}), registry)
    assert err.value.key == "engines.sql.plugin"
    assert "not loaded: trino (not in plugins.allowed)" in err.value.reason
