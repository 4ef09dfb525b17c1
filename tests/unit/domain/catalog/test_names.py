"""Namespace and table names reach a catalog only as plain parts."""

from __future__ import annotations

import pytest

from lakeplane.domain.catalog.services import parse_namespace
from lakeplane.errors import ValidationFailed


def test_a_dotted_namespace_splits_into_parts() -> None:
    assert parse_namespace("lake.sales_2026") == ("lake", "sales_2026")
    assert parse_namespace(None) == ()


@pytest.mark.parametrize("dotted", ["sales\n", "sales..x", "sales/x", "-x", "a" * 201])
def test_anything_else_is_refused(dotted: str) -> None:
    with pytest.raises(ValidationFailed, match="invalid namespace"):
        parse_namespace(dotted)
