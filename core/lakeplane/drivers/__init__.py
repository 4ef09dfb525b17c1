"""Helpers for plugins that drive an outside system: its client's errors mapped in one place
(:mod:`lakeplane.drivers.errors` for any driver, :mod:`lakeplane.drivers.kubernetes` for the
Kubernetes client), and the verified Maven jars it runs (:mod:`lakeplane.drivers.maven`).

A module imports its driver only when it is used, since the core runs without it.
"""
