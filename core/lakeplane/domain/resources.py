"""What the domain services do alike with the resources they keep.

A resource is read in its caller's workspace or not at all (:func:`get`), is locked and
checked against ``If-Match`` before a change (:func:`locked`), is inserted with its audit
event in one transaction (:func:`insert`), takes the fields a PATCH gives (:func:`apply`),
and leaves as the output struct of the same field names (:func:`to_struct`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Base, WorkspaceScoped
from lakeplane.domain import audit
from lakeplane.domain.etags import check_if_match
from lakeplane.errors import Conflict, NotFound

__all__ = ["apply", "get", "insert", "locked", "to_struct"]

M = TypeVar("M", bound=WorkspaceScoped)
S = TypeVar("S", bound=msgspec.Struct)


async def get(
    db: AsyncSession, model: type[M], workspace_id: str, row_id: str, what: str, *, for_update: bool = False
) -> M:
    """The ``model`` row ``row_id`` of the workspace; :class:`NotFound` naming ``what`` when
    there is none there (a row of another workspace is not found either)."""
    query = select(model).where(model.id == row_id, model.workspace_id == workspace_id)
    found = await db.scalar(query.with_for_update() if for_update else query)
    if found is None:
        raise NotFound(f"{what} {row_id!r} not found in this workspace")
    return found


async def locked(
    db: AsyncSession,
    model: type[M],
    workspace_id: str,
    row_id: str,
    what: str,
    if_match: str | None,
    to_out: Callable[[M], msgspec.Struct],
) -> M:
    """The row, locked ``FOR UPDATE`` for a change, once ``if_match`` (when given) names the
    ETag of its current representation ``to_out(row)``."""
    row = await get(db, model, workspace_id, row_id, what, for_update=True)
    check_if_match(if_match, to_out(row), f"{what} {row_id!r}")
    return row


async def insert(
    db: AsyncSession, actor: audit.Actor, entry: audit.Entry, *new: Base, conflict: str | None = None
) -> None:
    """Insert ``new`` (flushed one by one, in order) and record ``entry``, in one transaction.

    With ``conflict``, a unique constraint that refuses a row is :class:`Conflict` with that message.
    """
    try:
        async with db.begin():
            for row in new:
                db.add(row)
                await db.flush()
            await audit.record(db, actor, entry)
    except IntegrityError:
        if conflict is None:
            raise
        raise Conflict(conflict) from None


def apply(row: object, **values: Any) -> list[str]:
    """Set on ``row`` each of ``values`` that is given (not ``None``) and differs from what it
    holds; the names of those changed, in the order given."""
    changed = []
    for name, value in values.items():
        if value is not None and value != getattr(row, name):
            setattr(row, name, value)
            changed.append(name)
    return changed


def to_struct(out_type: type[S], row: Any, **computed: Any) -> S:
    """``row`` (an ORM object, a ``Row`` or a struct) as ``out_type``: each field is the value
    ``computed`` gives, else ``row``'s attribute of that name, else the field's default."""
    values = {}
    for name, required in _fields(out_type):
        if name not in computed:
            value = getattr(row, name) if required else getattr(row, name, _UNSET)
            if value is not _UNSET:
                values[name] = value
    return out_type(**values, **computed)


#: What an optional field reads as when the row has no attribute of its name.
_UNSET = object()


@functools.cache
def _fields(out_type: type[msgspec.Struct]) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, f.required) for f in msgspec.structs.fields(out_type))
