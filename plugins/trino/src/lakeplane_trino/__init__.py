"""Trino SQL engine for Lakeplane: ``trino_sql`` jobs run as one statement on a coordinator.

Job SQL names parameters ``:name``; their values are bound with
``EXECUTE IMMEDIATE ... USING`` and never pasted into the text. Identifiers that
must be built into SQL go through :func:`quote_identifier`: so does a parameter of
type ``identifier`` (an :class:`~lakeplane.interfaces.Identifier`), which is written
in as a quoted name such as ``"iceberg"."sales"."orders"``.
"""

from lakeplane_trino._engine import ATTEMPT_TAG, RUN_TAG, TrinoEngine
from lakeplane_trino._sql import bind_statement, placeholders, quote_identifier, quote_qualified, sql_literal
from lakeplane_trino._structs import TrinoOptions, TrinoParams, TrinoSqlSpec

__all__ = [
    "ATTEMPT_TAG",
    "RUN_TAG",
    "TrinoEngine",
    "TrinoOptions",
    "TrinoParams",
    "TrinoSqlSpec",
    "bind_statement",
    "placeholders",
    "quote_identifier",
    "quote_qualified",
    "sql_literal",
]
