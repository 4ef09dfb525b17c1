"""Parameters and identifiers against a real Trino: values stay values, names round-trip."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeplane.errors import QueryFailed, ValidationFailed
from lakeplane.interfaces import EngineState, Identifier, Submission
from lakeplane.testing.contracts.engine import wait_until_terminal
from lakeplane_trino import TrinoEngine, TrinoSqlSpec, quote_identifier

pytestmark = pytest.mark.trino

INJECTIONS = [
    "alice' OR '1'='1",
    "'; DROP TABLE users; --",
    "alice'--",
    "' UNION SELECT 'alice",
    "\\'; SELECT 1; --",
    "alice\x00",
    ":name",
    "?",
    "'' OR ''='",
    "*/ OR 1=1 /*",
    "alice' AND fail('injected') IS NULL AND '1'='1",
]
USERS = "SELECT count(*) FROM (VALUES 'alice', 'bob') AS users(name) WHERE name = :name"
_slow = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


async def test_a_bound_value_selects_what_it_should(trino: TrinoEngine) -> None:
    assert (await trino.execute(USERS, {"name": "alice"})).rows == [[1]]


@pytest.mark.parametrize("attempt", INJECTIONS)
async def test_injection_attempts_stay_values(trino: TrinoEngine, attempt: str) -> None:
    assert (await trino.execute(USERS, {"name": attempt})).rows == [[0]]
    assert (await trino.execute("SELECT :v", {"v": attempt})).rows == [[attempt]]


@_slow
@given(text=st.text(st.characters(codec="utf-8"), max_size=40))
async def test_any_text_round_trips(trino: TrinoEngine, text: str) -> None:
    assert (await trino.execute("SELECT :v, length(:v)", {"v": text})).rows == [[text, len(text)]]


ROUND_TRIPS: list[tuple[Any, Any]] = [
    (7, 7),
    (-(2**63), -(2**63)),
    (2**63, "9223372036854775808"),
    (0.1, 0.1),
    (float("nan"), "NaN"),
    (decimal.Decimal("12.340"), "12.340"),
    (True, True),
    (None, None),
    (datetime.date(2024, 2, 29), "2024-02-29"),
    (datetime.datetime(2024, 2, 29, 12, 34, 56, 123456), "2024-02-29 12:34:56.123456"),
    (
        datetime.datetime(
            2024, 2, 29, 12, 34, 56, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
        ),
        "2024-02-29 12:34:56.000000 +05:30",
    ),
    (datetime.time(1, 2, 3, 4), "01:02:03.000004"),
    (b"\x00\xff", "AP8="),
    (uuid.UUID(int=5), "00000000-0000-0000-0000-000000000005"),
    (["a", None], ["a", None]),
    ({"k": 1}, {"k": 1}),
]


@pytest.mark.parametrize(("value", "expected"), ROUND_TRIPS)
async def test_typed_values_round_trip(trino: TrinoEngine, value: Any, expected: Any) -> None:
    assert (await trino.execute("SELECT :v", {"v": value})).rows == [[expected]]


async def test_placeholder_text_inside_strings_is_left_alone(trino: TrinoEngine) -> None:
    result = await trino.execute("SELECT ':v', '?', :v /* :v */ -- :v", {"v": "bound"})
    assert result.rows == [[":v", "?", "bound"]]


def sql_job(run_id: str, sql: str, parameters: dict[str, Any] | None = None, **spec: Any) -> Submission:
    """A ``trino_sql`` submission of ``sql``; ``spec`` holds the rest of the job's spec."""
    return Submission(
        run_id=run_id,
        attempt=1,
        workspace="test",
        job_type="trino_sql",
        spec=TrinoSqlSpec(sql=sql, **spec),
        parameters=parameters or {},
    )


async def submitted_rows(trino: TrinoEngine, submission: Submission) -> list[list[Any]]:
    """The rows of ``submission``, submitted as the worker does, once it has succeeded."""
    handle = await trino.submit(submission)
    assert (await wait_until_terminal(trino, handle, 60)).state is EngineState.SUCCEEDED
    preview = await trino.results(handle)
    assert preview is not None
    return preview.rows


async def test_submitted_jobs_bind_submission_parameters(trino: TrinoEngine) -> None:
    submission = sql_job("run_bind", USERS, {"name": "bob"})
    assert await submitted_rows(trino, submission) == [[1]]


async def test_a_missing_parameter_starts_nothing(trino: TrinoEngine) -> None:
    submission = sql_job("run_missing", USERS)
    with pytest.raises(ValidationFailed, match=":name"):
        await trino.submit(submission)


NODES = "SELECT count(*) FROM :nodes WHERE coordinator = :coordinator"


async def test_an_identifier_parameter_names_the_table(trino: TrinoEngine) -> None:
    nodes = Identifier("system.runtime.nodes")
    assert (await trino.execute(NODES, {"nodes": nodes, "coordinator": True})).rows == [[1]]
    assert (await trino.execute(NODES, {"nodes": nodes, "coordinator": False})).rows == [[0]]
    # The same text as a plain string is a value, and a value cannot stand for a table.
    with pytest.raises(QueryFailed):
        await trino.execute(NODES, {"nodes": "system.runtime.nodes", "coordinator": True})


async def test_a_submitted_identifier_resolves_against_the_jobs_catalog_and_schema(
    trino: TrinoEngine,
) -> None:
    submission = sql_job(
        "run_ident",
        "SELECT count(*) FROM :tables WHERE table_name = 'nodes'",
        {"tables": Identifier("information_schema.tables")},
        catalog="system",
    )
    assert await submitted_rows(trino, submission) == [[1]]


async def test_a_hostile_identifier_starts_nothing(trino: TrinoEngine) -> None:
    submission = sql_job(
        "run_hostile", NODES, {"nodes": Identifier("system.runtime.nodes; DROP TABLE t"), "coordinator": True}
    )
    with pytest.raises(ValidationFailed, match="parameter 'nodes'"):
        await trino.submit(submission)
    assert not [work for work in await trino.list_active() if work.run_id == "run_hostile"]


@_slow
@given(name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,60}", fullmatch=True))
async def test_quoted_identifiers_round_trip_through_trino(trino: TrinoEngine, name: str) -> None:
    result = await trino.execute(f"SELECT 1 AS {quote_identifier(name)}")
    assert [column.name for column in result.columns] == [name]


async def test_a_syntax_error_is_query_failed_with_trinos_words(trino: TrinoEngine) -> None:
    with pytest.raises(QueryFailed) as caught:
        await trino.execute("SELEC 1")
    error = caught.value
    assert error.detail.startswith("SYNTAX_ERROR: line 1:1: mismatched input 'SELEC'")
    assert error.extra["error_name"] == "SYNTAX_ERROR"
    assert error.extra["error_type"] == "USER_ERROR"
    assert (error.extra["line"], error.extra["column"]) == (1, 1)
    assert error.extra["query_id"]


async def test_a_submitted_syntax_error_fails_the_job_with_the_error_name(trino: TrinoEngine) -> None:
    submission = sql_job("run_syntax", "SELEC 1")
    handle = await trino.submit(submission)
    status = await wait_until_terminal(trino, handle, 60)
    assert status.state is EngineState.FAILED
    assert status.message.startswith("SYNTAX_ERROR: ")


async def test_a_runtime_failure_is_query_failed(trino: TrinoEngine) -> None:
    with pytest.raises(QueryFailed, match="DIVISION_BY_ZERO"):
        await trino.execute("SELECT 1 / :zero", {"zero": 0})
