"""Test support shipped with Lakeplane, so plugin authors can run the same suites.

- :mod:`lakeplane.testing.services`: real Postgres, SeaweedFS and Trino for tests;
- :mod:`lakeplane.testing.app`: a migrated database, config and app for API tests;
- :mod:`lakeplane.testing.processes`: the ``lakeplane`` command as a child process;
- :mod:`lakeplane.testing.contracts`: one contract suite per interface.
"""
