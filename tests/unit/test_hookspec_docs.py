"""Every hook in ``lakeplane.hookspecs`` has a docstring and a section in ``docs/plugins.md``."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from lakeplane import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SPEC_MARK = f"{hookspecs.PROJECT}_spec"


def hook_names() -> list[str]:
    return sorted(
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, SPEC_MARK)
    )


def documented_hooks() -> set[str]:
    """Hooks with a heading of their own, as in ``### `lakeplane_register_engines(registry)```."""
    headings = re.findall(r"^#+ `(lakeplane_\w+)\(", DOC.read_text(), flags=re.MULTILINE)
    return set(headings)


def test_the_hookspecs_are_found() -> None:
    assert "lakeplane_register_engines" in hook_names()
    assert "lakeplane_web_routes" in hook_names()


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_documented(name: str) -> None:
    assert name in documented_hooks(), f"docs/plugins.md has no heading for {name}"


@pytest.mark.parametrize("name", hook_names())
def test_hookspec_has_a_docstring(name: str) -> None:
    assert (inspect.getdoc(getattr(hookspecs, name)) or "").strip(), f"{name} has no docstring"


def test_the_docs_name_no_hook_that_does_not_exist() -> None:
    assert documented_hooks() <= set(hook_names())
