"""Cursor pagination: ``?limit=&cursor=``; the cursor is the last id seen (ids sort by time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from lakeplane.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 500


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}", [{"field": "limit", "message": "out of range"}]
        )
    return limit


def paginate(query: Any, id_column: Any, cursor: str | None, limit: int, newest_first: bool = False) -> Any:
    check_limit(limit)
    if cursor:
        query = query.where(id_column < cursor if newest_first else id_column > cursor)
    order = id_column.desc() if newest_first else id_column.asc()
    return query.order_by(order).limit(limit + 1)


def page(rows: Sequence[Any], limit: int, to_item: Any, id_of: Any = lambda r: r.id) -> Page[Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[to_item(r) for r in rows], next_cursor=id_of(rows[-1]) if more and rows else None)
