"""Helpers for plugins that drive an outside system: its client's errors mapped in one place.

Each module names the driver it serves (:mod:`lakeplane.drivers.kubernetes`) and imports that
driver only when it is used, since the core runs without it.
"""
