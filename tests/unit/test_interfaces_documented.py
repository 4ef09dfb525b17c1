"""Every abstract method of every interface says what it does: a plugin author implements
from the docstring, as a litestar store author does from ``stores/base.py``."""

from __future__ import annotations

import inspect

import lakeplane.interfaces as interfaces


def abstract_methods() -> list[tuple[str, str, object]]:
    found = []
    for name in interfaces.__all__:
        cls = getattr(interfaces, name)
        if inspect.isclass(cls) and inspect.isabstract(cls):
            for method in sorted(cls.__abstractmethods__):
                found.append((name, method, getattr(cls, method)))
    return found


def test_every_abstract_method_has_a_docstring() -> None:
    undocumented = [
        f"{cls}.{method}" for cls, method, func in abstract_methods() if len(inspect.getdoc(func) or "") < 20
    ]
    assert not undocumented, "abstract methods without a docstring: " + ", ".join(undocumented)


def test_the_interfaces_are_all_seen() -> None:
    classes = {cls for cls, _, _ in abstract_methods()}
    assert {
        "ObjectStore",
        "Catalog",
        "Engine",
        "PasswordAuthProvider",
        "RedirectAuthProvider",
        "SecretStore",
    } <= classes
