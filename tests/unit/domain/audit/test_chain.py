"""The verifier accepts a chain written in both hash schemes and finds a change to either.

The hashes are pinned: they were written by the code of each scheme, and a stored
chain is never rehashed, so a change to how either scheme hashes must fail here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from lakeplane.db.models import AuditEvent
from lakeplane.domain.audit.chain import GENESIS, check_chain
from lakeplane.domain.audit.records import CONTENT_FIELDS

#: Event 1, of the first scheme: ``hash`` covers its JSON with ``seq`` and ``prev_hash``.
FIRST_SCHEME_HASH = "75a1162c6a89ef79a14f4657972c7806a0140a82ced232a2d755cf7ab4b7a03a"
#: Event 2, of the content scheme, linked to event 1 by the database.
CONTENT_HASH = "c4c7c7437e076a3656bbe58656fb8ef2648708d51de0e188b276c634a9af4c66"
LINKED_HASH = "7f98d676e74ffac65ac2a59cd2742dfe1617fa336bf1995997464244aecd0cb0"

#: A different value for every field the hashes cover.
CHANGES: dict[str, Any] = {
    "id": "evt_9",
    "occurred_at": dt.datetime(2026, 11, 20, 9, 30, 15, 123457, tzinfo=dt.UTC),
    "actor_id": None,
    "actor_name": "mallory",
    "action": "workspace.delete",
    "target_type": "user",
    "target_id": "ws_2",
    "workspace_id": "ws_2",
    "source_ip": "10.0.0.1",
    "request_id": "req_2",
    "outcome": "failure",
    "details": {"n": 1, "name": "e"},
}


def _event(seq: int, prev_hash: str, content_hash: str | None, hash_: str) -> AuditEvent:
    return AuditEvent(
        seq=seq,
        id=f"evt_{seq}",
        occurred_at=dt.datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=dt.UTC),
        actor_id="usr_1",
        actor_name="alice",
        action="workspace.create",
        target_type="workspace",
        target_id="ws_1",
        workspace_id="ws_1",
        source_ip="127.0.0.1",
        request_id="req_1",
        outcome="success",
        details={"n": seq, "name": "é"},
        prev_hash=prev_hash,
        content_hash=content_hash,
        hash=hash_,
    )


def _chain() -> list[AuditEvent]:
    return [
        _event(1, GENESIS, None, FIRST_SCHEME_HASH),
        _event(2, FIRST_SCHEME_HASH, CONTENT_HASH, LINKED_HASH),
    ]


async def _rows(events: Iterable[AuditEvent]) -> AsyncIterator[AuditEvent]:
    for event in events:
        yield event


def test_every_hashed_field_is_changed() -> None:
    assert set(CHANGES) == set(CONTENT_FIELDS)


async def test_a_chain_of_both_schemes_verifies() -> None:
    verdict = await check_chain(_rows(_chain()))
    assert dataclasses.astuple(verdict) == (True, 2, LINKED_HASH, None, None)


@pytest.mark.parametrize("field", sorted(CHANGES))
@pytest.mark.parametrize("seq", [1, 2], ids=["first scheme", "content scheme"])
async def test_a_changed_field_is_found(seq: int, field: str) -> None:
    events = _chain()
    setattr(events[seq - 1], field, CHANGES[field])
    verdict = await check_chain(_rows(events))
    assert not verdict.ok
    assert verdict.seq == seq and verdict.checked == seq - 1
    assert verdict.problem == f"event {seq} was altered"
