"""Declared job parameters: typed checks at submit, nothing but plain identifiers pass as identifiers."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.domain.jobs.services import check_parameters, coerce, engine_values
from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import Identifier, Submission, encode_value

DECLARED = [
    {"name": "day", "type": "date", "required": True},
    {"name": "n", "type": "integer", "default": 3},
    {"name": "ratio", "type": "number"},
    {"name": "full", "type": "boolean", "default": False},
    {"name": "tbl", "type": "identifier", "default": "sales.orders"},
    {"name": "note", "type": "string"},
]


def test_defaults_and_conversions() -> None:
    values = check_parameters(DECLARED, {"day": "2026-11-25", "n": "7", "ratio": 0.5, "full": "true"})
    assert values == {
        "day": "2026-11-25",
        "n": 7,
        "ratio": 0.5,
        "full": True,
        "tbl": "sales.orders",
        "note": None,
    }
    assert engine_values(DECLARED, values)["day"] == dt.date(2026, 11, 25)


def test_every_problem_is_reported_by_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_parameters(DECLARED, {"n": True, "ratio": "nan", "tbl": "t; DROP TABLE x", "extra": 1})
    fields = {e["field"] for e in caught.value.extra["errors"]}
    assert fields == {
        "parameters.day",
        "parameters.n",
        "parameters.ratio",
        "parameters.tbl",
        "parameters.extra",
    }


@pytest.mark.parametrize(("kind", "text"), [("identifier", "orders\n"), ("integer", "7\n")])
def test_a_trailing_newline_is_refused(kind: str, text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        coerce(kind, text)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integers_round_trip(value: int) -> None:
    assert coerce("integer", value) == value
    assert coerce("integer", str(value)) == value


@given(st.text(max_size=40))
def test_identifiers_are_plain_names_only(text: str) -> None:
    try:
        accepted = coerce("identifier", text)
    except ValueError:
        return
    parts = accepted.split(".")
    assert 1 <= len(parts) <= 3
    assert all(
        p and (p[0].isalpha() or p[0] == "_") and p.replace("_", "a").isalnum() and p.isascii() for p in parts
    )


def test_identifiers_reach_the_engine_typed_and_nothing_else_does() -> None:
    values = engine_values(
        DECLARED, check_parameters(DECLARED, {"day": "2026-11-25", "note": "sales.orders"})
    )
    assert type(values["tbl"]) is Identifier
    assert values["tbl"] == "sales.orders"
    assert values["tbl"].parts == ("sales", "orders")
    assert type(values["note"]) is str  # the same text as a string parameter stays a value
    assert not any(isinstance(v, Identifier) for k, v in values.items() if k != "tbl")
    unset = engine_values(DECLARED, {"tbl": None})
    assert unset == {"tbl": None}


def test_an_identifier_serialises_as_its_plain_name() -> None:
    submission = Submission(
        run_id="run_1",
        attempt=1,
        workspace="ws",
        job_type="trino_sql",
        spec={"sql": "SELECT * FROM :tbl"},
        parameters={"tbl": Identifier("iceberg.sales.orders"), "day": dt.date(2026, 11, 25)},
    )
    # How the Spark plugin hands parameters to its jobs.
    assert json.loads(json.dumps(submission.parameters, default=str)) == {
        "tbl": "iceberg.sales.orders",
        "day": "2026-11-25",
    }
    encoded = msgspec.json.encode(submission, enc_hook=encode_value)
    decoded = msgspec.json.decode(encoded, type=Submission)
    assert decoded.parameters["tbl"] == "iceberg.sales.orders"
    assert type(decoded.parameters["tbl"]) is str
    assert msgspec.to_builtins(submission.parameters, enc_hook=encode_value)["tbl"] == "iceberg.sales.orders"
    with pytest.raises(TypeError):  # msgspec does not encode str subclasses: hence the hook
        msgspec.json.encode(submission)
    with pytest.raises(NotImplementedError):
        encode_value(object())
