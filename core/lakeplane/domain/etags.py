"""Entity tags for optimistic concurrency.

A resource's ``ETag`` is a strong tag derived from its public representation (the
``*Out`` struct its GET answers with), so any change a reader could see changes it.
A ``PATCH``, ``PUT`` or ``DELETE`` carrying ``If-Match`` is refused with 412 unless
one of the listed tags (or ``*``) is the current one; the services compare after
locking the row, inside the transaction that makes the change.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec
from litestar.params import HeaderParameter

from lakeplane.errors import PreconditionFailed

__all__ = ["IfMatch", "check_if_match", "etag"]

#: The ``If-Match`` request header of a conditional operation.
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description="Apply only if the resource's ETag is one of these (or *); otherwise 412",
    ),
]


def etag(representation: msgspec.Struct) -> str:
    """The strong entity tag (quoted, as sent in the header) of ``representation``."""
    digest = hashlib.sha256(msgspec.json.encode(representation)).hexdigest()[:32]
    return f'"{digest}"'


def check_if_match(if_match: str | None, current: msgspec.Struct, what: str) -> None:
    """Raise :class:`PreconditionFailed` unless ``if_match`` is absent or names ``current``.

    Weak tags (``W/"…"``) never match: If-Match uses the strong comparison.
    """
    if if_match is None:
        return
    tags = {tag.strip() for tag in if_match.split(",")}
    if "*" in tags or etag(current) in tags:
        return
    raise PreconditionFailed(
        f"{what} was changed by someone else since it was read; reload it and apply the change again"
    )
