"""The audit chain and its verifier, for both hash schemes the log has been written in.

Each event stores ``prev_hash``, the ``hash`` of the event before it, and ``seq``
has no gaps, so :func:`verify` finds an edited, inserted or deleted row. History is
never rewritten, so an event keeps the scheme it was written with:

- the content scheme (migration ``20261125_0002`` on): ``content_hash`` is the SHA-256
  of the event's canonical JSON, and ``hash = sha256(prev_hash ":" seq ":" content_hash)``,
  computed by the database when the transaction commits;
- the first scheme (``content_hash`` is NULL): ``hash`` is the SHA-256 of the canonical
  JSON with ``seq`` and ``prev_hash`` included.

:func:`intact` is the one place that tells them apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterable

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import AuditEvent
from lakeplane.domain.audit.records import canonical_fields, content_hash
from lakeplane.domain.audit.services import scan

#: The ``prev_hash`` of the first event.
GENESIS = "0" * 64


def link(prev_hash: str, seq: int, content_digest: str) -> str:
    """The chain hash of event ``seq``, as the database's ``lakeplane_audit_link`` computes it."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{content_digest}".encode()).hexdigest()


def first_scheme_digest(event: AuditEvent) -> str:
    """The hash of an event written before ``content_hash``: its JSON with ``seq`` and ``prev_hash``."""
    fields = {**canonical_fields(event), "seq": event.seq, "prev_hash": event.prev_hash}
    return hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()


def intact(event: AuditEvent) -> bool:
    """Whether the event's stored hashes still match its fields, under the scheme it was written in."""
    if event.content_hash is None:
        return first_scheme_digest(event) == event.hash
    return (
        content_hash(event) == event.content_hash
        and link(event.prev_hash, event.seq, event.content_hash) == event.hash
    )


@dataclasses.dataclass
class Verdict:
    ok: bool
    checked: int
    head: str
    problem: str | None = None
    seq: int | None = None


async def verify(session: AsyncSession, batch: int = 5000) -> Verdict:
    """Walk the whole chain, oldest first; report the first event that does not fit."""
    return await check_chain(scan(session, oldest_first=True, batch=batch))


async def check_chain(events: AsyncIterable[AuditEvent]) -> Verdict:
    """Check ``events``, oldest first, as the chain that starts at :data:`GENESIS`."""
    expected_seq, prev, checked = 1, GENESIS, 0
    async for event in events:
        if event.seq != expected_seq:
            return Verdict(False, checked, prev, f"event {expected_seq} is missing", expected_seq)
        if event.prev_hash != prev:
            return Verdict(
                False, checked, prev, f"event {event.seq} does not follow its predecessor", event.seq
            )
        if not intact(event):
            return Verdict(False, checked, prev, f"event {event.seq} was altered", event.seq)
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    return Verdict(True, checked, prev)
