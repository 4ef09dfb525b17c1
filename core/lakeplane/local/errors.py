"""Errors of the embedded local stack, each one line that says what to do next.

LakeplaneError
└── LocalStackError
    ├── PortInUse               a port the stack needs is taken, checked before anything starts
    ├── JavaNotFound            no Java new enough for Trino
    ├── ComponentFailed         a component exited or did not become healthy in time
    └── StackBusy               another ``local up``/``down`` holds the stack directory
"""

from __future__ import annotations

from lakeplane.errors import LakeplaneError


class LocalStackError(LakeplaneError, code="local-stack"):
    """The local stack cannot do what was asked."""


class PortInUse(LocalStackError, code="port-in-use"):
    """A port the stack needs is taken, checked before anything starts."""


class JavaNotFound(LocalStackError, code="java-not-found"):
    """No Java new enough for Trino."""


class ComponentFailed(LocalStackError, code="component-failed"):
    """A component exited or did not become healthy in time."""


class StackBusy(LocalStackError, code="stack-busy"):
    """Another ``local up``/``down`` holds the stack directory."""
