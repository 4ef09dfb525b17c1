"""SQL the plugin builds itself, checked without a server: identifiers, placeholders, literals."""

from __future__ import annotations

import datetime
import decimal
import ssl
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import Identifier, MaintenanceSpec, Submission
from lakeplane.testing.contracts import assert_registered
from lakeplane_trino import (
    TrinoEngine,
    TrinoParams,
    TrinoSqlSpec,
    bind_statement,
    placeholders,
    quote_identifier,
    quote_qualified,
    sql_literal,
)
from lakeplane_trino._protocol import tls_context
from lakeplane_trino._sql import IDENTIFIER_PATTERN, ParsedStatement

# -- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "_", "orders", "Order_Lines_2", "x" * 128])
def test_plain_identifiers_are_double_quoted(name: str) -> None:
    assert quote_identifier(name) == f'"{name}"'


@pytest.mark.parametrize(
    "name",
    ["", "1st", "a b", 'a"b', "a-b", "a.b", "ä", "a;", "a\n", "x" * 129, '"', "a--", "tab\t"],
)
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(ValidationFailed):
        quote_identifier(name)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        quote_identifier(None)  # type: ignore[arg-type]


@given(st.text(max_size=140))
def test_any_string_is_refused_or_quotes_to_itself(name: str) -> None:
    try:
        quoted = quote_identifier(name)
    except ValidationFailed:
        assert not IDENTIFIER_PATTERN.fullmatch(name)
        return
    assert quoted == f'"{name}"'
    assert quoted[1:-1] == name
    assert '"' not in name
    assert IDENTIFIER_PATTERN.fullmatch(name)


def test_qualified_names_quote_each_part() -> None:
    assert quote_qualified("lake", "sales", "orders") == '"lake"."sales"."orders"'
    with pytest.raises(ValidationFailed):
        quote_qualified("lake", "sales.orders")
    with pytest.raises(ValidationFailed):
        quote_qualified()


# -- placeholders -----------------------------------------------------------------------


def test_placeholders_in_order_of_first_use() -> None:
    assert placeholders("SELECT :b, :a, :b FROM t WHERE x = :c") == ["b", "a", "c"]


def test_placeholders_skip_strings_quoted_names_and_comments() -> None:
    sql = """SELECT ':in_string', "col:quoted", 'it''s :still_text', :real -- :comment
    /* :block
       :comment */ FROM t"""
    assert placeholders(sql) == ["real"]


def test_without_placeholders_the_statement_goes_as_written() -> None:
    assert bind_statement("SELECT 1 ;  ", {"unused": 1}) == "SELECT 1"
    assert bind_statement("SELECT 1; -- trailing comment", {}) == "SELECT 1"


def test_placeholders_become_execute_immediate_with_values() -> None:
    statement = bind_statement("SELECT 'x' AS tag, :name AS name WHERE :n > 0", {"name": "it's", "n": 3})
    assert statement == "EXECUTE IMMEDIATE 'SELECT ''x'' AS tag, ? AS name WHERE ? > 0' USING 'it''s', 3"


def test_a_repeated_placeholder_binds_its_value_each_time() -> None:
    assert bind_statement("SELECT :a, :a", {"a": 1}) == "EXECUTE IMMEDIATE 'SELECT ?, ?' USING 1, 1"


def test_every_missing_value_is_named() -> None:
    with pytest.raises(ValidationFailed) as caught:
        bind_statement("SELECT :a, :b, :c", {"b": 1})
    assert ":a" in caught.value.detail
    assert ":c" in caught.value.detail
    assert {e["field"] for e in caught.value.extra["errors"]} == {"parameters.a", "parameters.c"}


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT ?", "bare ?"),
        ("SELECT 1; SELECT 2", "single statement"),
        ("SELECT 1;;", "single statement"),
        ("   ", "empty"),
        ("-- only a comment", "empty"),
    ],
)
def test_statements_the_plugin_refuses(sql: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason):
        bind_statement(sql, {})


def test_question_marks_inside_strings_are_text() -> None:
    assert bind_statement("SELECT '?', :a", {"a": 1}) == "EXECUTE IMMEDIATE 'SELECT ''?'', ?' USING 1"


def test_an_unbindable_value_names_its_parameter() -> None:
    with pytest.raises(ValidationFailed, match="'when'"):
        bind_statement("SELECT :when", {"when": object()})


# -- identifier parameters --------------------------------------------------------------

_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("orders", '"orders"'),
        ("sales.orders", '"sales"."orders"'),
        ("iceberg.sales.orders", '"iceberg"."sales"."orders"'),
    ],
)
def test_an_identifier_parameter_is_written_in_quoted(value: str, quoted: str) -> None:
    statement = bind_statement("SELECT count(*) FROM :table", {"table": Identifier(value)})
    assert statement == f"SELECT count(*) FROM {quoted}"


def test_identifiers_are_written_in_and_other_values_stay_bound() -> None:
    statement = bind_statement(
        "SELECT * FROM :table WHERE region = :region AND n > :n",
        {"table": Identifier("iceberg.sales.orders"), "region": "north", "n": 2},
    )
    assert statement == (
        """EXECUTE IMMEDIATE 'SELECT * FROM "iceberg"."sales"."orders" WHERE region = ? AND n > ?' """
        "USING 'north', 2"
    )


def test_a_plain_string_is_never_a_name() -> None:
    statement = bind_statement("SELECT * FROM :table", {"table": "iceberg.sales.orders"})
    assert statement == "EXECUTE IMMEDIATE 'SELECT * FROM ?' USING 'iceberg.sales.orders'"


def test_an_identifier_beside_a_quoted_name_stays_a_separate_token() -> None:
    tables = {"a": Identifier("x"), "b": Identifier("y")}
    assert bind_statement('SELECT :a:b, "q":a', tables) == 'SELECT "x" "y", "q" "x"'
    assert bind_statement("SELECT * FROM :a.orders", tables) == 'SELECT * FROM "x".orders'


HOSTILE = [
    ("x; DROP TABLE y", "not a valid identifier"),
    ('a"b', "not a valid identifier"),
    ("a.b.c.d", "4 parts"),
    ("", "empty"),
    ("a..b", "not a valid identifier"),
    ("orders --", "not a valid identifier"),
    ("a.b' OR '1'='1", "not a valid identifier"),
    ("tab\tle", "not a valid identifier"),
    ("ä", "not a valid identifier"),
    ("x" * 129, "not a valid identifier"),
]


@pytest.mark.parametrize(("value", "reason"), HOSTILE)
def test_a_hostile_identifier_is_refused_naming_its_parameter(value: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as caught:
        bind_statement("SELECT count(*) FROM :table WHERE x = :x", {"table": Identifier(value), "x": 1})
    assert "'table'" in caught.value.detail
    (error,) = caught.value.extra["errors"]
    assert error["field"] == "parameters.table"
    assert reason in error["message"]


@given(st.lists(_NAME, min_size=1, max_size=3))
def test_any_plain_name_becomes_one_quoted_name(parts: list[str]) -> None:
    statement = bind_statement("SELECT * FROM :t WHERE k = :k", {"t": Identifier(".".join(parts)), "k": "v"})
    inner = ".".join(f'"{part}"' for part in parts)
    assert statement == f"EXECUTE IMMEDIATE 'SELECT * FROM {inner} WHERE k = ?' USING 'v'"


@given(
    st.one_of(
        st.text(max_size=60),
        st.text(alphabet="aZ_1.;\"' -/*\n", max_size=20),
        st.lists(_NAME, max_size=5).map(".".join),
    )
)
def test_any_text_is_refused_or_only_quoted_plain_names(text: str) -> None:
    parts = text.split(".")
    if not (len(parts) <= 3 and all(IDENTIFIER_PATTERN.fullmatch(part) for part in parts)):
        with pytest.raises(ValidationFailed) as caught:
            bind_statement("SELECT * FROM :t", {"t": Identifier(text)})
        assert caught.value.extra["errors"][0]["field"] == "parameters.t"
        return
    statement = bind_statement("SELECT * FROM :t", {"t": Identifier(text)})
    # Read back with the plugin's own tokenizer: only quoted names and dots were added.
    tokens = ParsedStatement(statement).tokens
    assert tokens[0] == ("code", "SELECT * FROM ")
    assert [text for kind, text in tokens[1:] if kind != "quoted"] == ["."] * (len(parts) - 1)
    assert [text[1:-1] for kind, text in tokens if kind == "quoted"] == parts


# -- literals ---------------------------------------------------------------------------

_TZ = datetime.timezone(datetime.timedelta(hours=-8))
LITERALS: list[tuple[Any, str]] = [
    (None, "NULL"),
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-42, "-42"),
    (2**63 - 1, "9223372036854775807"),
    (-(2**63), "BIGINT '-9223372036854775808'"),
    (2**63, "DECIMAL '9223372036854775808'"),
    (1.5, "DOUBLE '1.5'"),
    (1e300, "DOUBLE '1e+300'"),
    (float("nan"), "nan()"),
    (float("inf"), "infinity()"),
    (float("-inf"), "-infinity()"),
    (decimal.Decimal("-12.340"), "DECIMAL '-12.340'"),
    ("", "''"),
    ("it's", "'it''s'"),
    ("'; DROP TABLE t; --", "'''; DROP TABLE t; --'"),
    ("back\\slash", "'back\\slash'"),
    (b"\x00\xff", "X'00ff'"),
    (datetime.date(2024, 2, 29), "DATE '2024-02-29'"),
    (datetime.datetime(2024, 2, 29, 1, 2, 3, 4), "TIMESTAMP '2024-02-29 01:02:03.000004'"),
    (datetime.datetime(2024, 2, 29, 1, 2, 3, tzinfo=_TZ), "TIMESTAMP '2024-02-29 01:02:03.000000 -08:00'"),
    (datetime.time(1, 2, 3), "TIME '01:02:03.000000'"),
    (uuid.UUID(int=1), "UUID '00000000-0000-0000-0000-000000000001'"),
    ([1, "a", None], "ARRAY[1, 'a', NULL]"),
    ({"k": [1]}, "MAP(ARRAY['k'], ARRAY[ARRAY[1]])"),
    ([], "ARRAY[]"),
]


@pytest.mark.parametrize(("value", "literal"), LITERALS)
def test_literals(value: Any, literal: str) -> None:
    assert sql_literal(value) == literal


@pytest.mark.parametrize(
    "value",
    [
        10**40,
        decimal.Decimal("NaN"),
        decimal.Decimal("1e-40"),
        "lone \ud800 surrogate",
        datetime.time(1, 2, tzinfo=_TZ),
        datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(seconds=30))),
        object(),
        (1, 2),
        {1, 2},
    ],
)
def test_values_that_cannot_be_bound(value: Any) -> None:
    with pytest.raises(ValueError):
        sql_literal(value)


def test_nesting_is_bounded() -> None:
    value: Any = 1
    for _ in range(40):
        value = [value]
    with pytest.raises(ValueError, match="nested"):
        sql_literal(value)


# -- structs ----------------------------------------------------------------------------


def test_job_spec_decodes_and_checks_itself() -> None:
    spec = msgspec.convert(
        {"sql": "SELECT :x", "catalog": "lake", "schema": "sales", "session_properties": {"lake.p": "1"}},
        TrinoSqlSpec,
    )
    assert spec.sql == "SELECT :x"
    for bad in (
        {"sql": "SELECT 1; DROP TABLE t"},
        {"sql": "SELECT 1", "catalog": "no-dash"},
        {"sql": "SELECT 1", "session_properties": {"a=b": "1"}},
        {"sql": "SELECT 1", "surprise": True},
        {"sql": ""},
    ):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, TrinoSqlSpec)


def test_connection_parameters() -> None:
    params = msgspec.convert({"host": "trino.internal", "user": "etl"}, TrinoParams)
    assert params.base_url == "http://trino.internal:8080"
    assert TrinoParams(host="::1", user="u", port=8443, http_scheme="https").base_url == "https://[::1]:8443"
    for bad in (
        {"host": "http://trino", "user": "u"},
        {"host": "trino:8080", "user": "u"},
        {"host": "user@trino", "user": "u"},
        {"host": "trino", "user": "u", "password": "p"},  # a password only over https
        {"host": "trino", "user": "u", "http_scheme": "ftp"},
        {"host": "trino", "user": ""},
    ):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, TrinoParams)
    msgspec.convert({"host": "trino", "user": "u", "password": "p", "http_scheme": "https"}, TrinoParams)


async def test_engines_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening an engine (once per run attempt in the worker) does not read the CA bundle again."""
    params = TrinoParams(host="127.0.0.1", user="u")
    async with TrinoEngine(params):
        pass
    built: list[object] = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: built.append(a) or real(*a, **k))
    for _ in range(3):
        async with TrinoEngine(params):
            pass
    assert built == []
    assert tls_context(True) is tls_context(True)
    assert tls_context(True).verify_mode is ssl.CERT_REQUIRED
    assert tls_context(False).verify_mode is ssl.CERT_NONE


def test_only_trino_sql_and_maintenance_jobs() -> None:
    assert TrinoEngine.spec_type("trino_sql") is TrinoSqlSpec
    assert TrinoEngine.spec_type("iceberg-maintenance") is MaintenanceSpec
    with pytest.raises(ValidationFailed):
        TrinoEngine.spec_type("spark_batch")


async def test_maintenance_statements_quote_the_table_and_need_a_catalog() -> None:
    engine = TrinoEngine({"host": "127.0.0.1", "user": "u", "catalog": "iceberg"})

    def submission(spec: dict[str, object], table: object) -> Submission:
        return Submission(
            run_id="run_1",
            attempt=1,
            workspace="w",
            job_type="iceberg-maintenance",
            spec=msgspec.convert({"dataset_id": "ds_1", **spec}, MaintenanceSpec),
            parameters={"table": table},
        )

    built = await engine._maintenance_statement(
        submission({"action": "expire_snapshots", "older_than_days": 1.5, "keep_last": 1}, Identifier("s.t"))
    )
    assert built.sql == """ALTER TABLE "s"."t" EXECUTE expire_snapshots(retention_threshold => '129600s')"""
    assert built.catalog == "iceberg"
    orphans = await engine._maintenance_statement(
        submission({"action": "remove_orphan_files", "older_than_days": 0}, Identifier("s.t"))
    )
    assert orphans.sql == """ALTER TABLE "s"."t" EXECUTE remove_orphan_files(retention_threshold => '0s')"""
    optimize = await engine._maintenance_statement(submission({"action": "optimize"}, Identifier("s.t")))
    assert optimize.sql == 'ALTER TABLE "s"."t" EXECUTE optimize'
    for bad in ["s.t", Identifier("t"), Identifier('s.t"; DROP TABLE x; --')]:
        with pytest.raises(ValidationFailed):
            await engine._maintenance_statement(submission({"action": "optimize"}, bad))
    no_catalog = TrinoEngine({"host": "127.0.0.1", "user": "u"})
    with pytest.raises(ValidationFailed, match="catalog"):
        await no_catalog._maintenance_statement(submission({"action": "optimize"}, Identifier("s.t")))


def test_registered_through_the_entry_point() -> None:
    assert_registered(TrinoEngine, "lakeplane-plugin-trino")
