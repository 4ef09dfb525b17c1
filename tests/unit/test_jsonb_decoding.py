"""JSONB values are decoded with msgspec, falling back to ``json``: the same values as ``json.loads``."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from lakeplane.db.engine import _json_loads

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_same_values_as_json(value: object) -> None:
    text = json.dumps(value)
    assert _json_loads(text) == json.loads(text)


def test_numbers_beyond_float_range_read_as_json_does() -> None:
    assert _json_loads('{"n": 1.5e400}') == {"n": math.inf}
    assert _json_loads("123456789012345678901234567890") == 123456789012345678901234567890
    assert _json_loads("1e-400") == 0.0
