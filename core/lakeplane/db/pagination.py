"""Cursor pagination: ``?limit=&cursor=``; the cursor is the last id seen (ids sort by time).

List endpoints read their page with :func:`select_rows` and :func:`fetch_page`: plain rows,
not ORM objects. A page is only turned into output structs, so the ORM's identity map and
change tracking (most of the cost of loading 50 objects) buy nothing there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Row, Select, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 500
#: A cursor is the last id seen (``ws_01JD...``); the audit log's is a sequence number.
CURSOR_PATTERN = r"^[a-z]{1,8}_[0-9A-HJKMNP-TV-Z]{26}$"
AUDIT_CURSOR_PATTERN = r"^[0-9]{1,18}$"
_CURSOR = re.compile(CURSOR_PATTERN)


#: A list's page size when the caller names none.
DEFAULT_LIMIT = 50


@dataclasses.dataclass(frozen=True)
class Paging:
    """``?cursor=&limit=`` of a list request, checked."""

    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}", [{"field": "limit", "message": "out of range"}]
        )
    return limit


def check_cursor(cursor: str | None) -> str | None:
    if cursor is not None and not _CURSOR.match(cursor):
        raise ValidationFailed("cursor is not valid", [{"field": "cursor", "message": "not a cursor"}])
    return cursor


def paginate(query: Any, id_column: Any, cursor: str | None, limit: int, newest_first: bool = False) -> Any:
    check_limit(limit)
    check_cursor(cursor)
    if cursor:
        query = query.where(id_column < cursor if newest_first else id_column > cursor)
    order = id_column.desc() if newest_first else id_column.asc()
    return query.order_by(order).limit(limit + 1)


_COLUMNS: dict[type[Any], tuple[Any, ...]] = {}


def _columns(entity: type[Any]) -> tuple[Any, ...]:
    found = _COLUMNS.get(entity)
    if found is None:
        found = _COLUMNS[entity] = tuple(getattr(entity, attr.key) for attr in inspect(entity).column_attrs)
    return found


def select_rows(entity: type[Any], *extra: Any) -> Select[Any]:
    """``select(entity)`` read as plain columns: each row has the entity's attributes by name
    (``row.id``, ``row.created_at``, ...), then any ``extra`` columns."""
    return select(*_columns(entity), *extra)


async def fetch_page(
    db: AsyncSession, query: Any, id_column: Any, cursor: str | None, limit: int, newest_first: bool = False
) -> Sequence[Row[Any]]:
    """One page of ``query`` (usually from :func:`select_rows`), plus one row to tell whether
    there is a next page; :func:`page` turns it into the response."""
    return (await db.execute(paginate(query, id_column, cursor, limit, newest_first))).all()


def page(rows: Sequence[Any], limit: int, to_item: Any, id_of: Any = lambda r: r.id) -> Page[Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[to_item(r) for r in rows], next_cursor=id_of(rows[-1]) if more and rows else None)
