"""Declared job parameters: typed checks at submit, nothing but plain identifiers pass as identifiers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.domain.jobs.services import check_parameters, coerce, engine_values
from lakeplane.errors import ValidationFailed

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
