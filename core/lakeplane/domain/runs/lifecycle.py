"""A run's states, the only legal moves between them, and the retry decision.

States and the moves of :data:`LEGAL`::

    (new) -> queued -> running -> succeeded | failed | cancelled | timed_out
             queued -> cancelled            (stopped before a worker took it)
             running -> queued              (an attempt failed and the retry policy allows another)

Every recorded move is checked by :func:`check_transition`. How an attempt ended is a
:class:`Finish`; :func:`decide` turns it into what is stored, a retry or the end.
Nothing here touches the database, so the rules can be tested on their own.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class RunState(enum.StrEnum):
    """Stored in ``runs.state`` and sent by the API as its value, the same text as ever."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


#: Every state, in the order the API documents them.
STATES: tuple[RunState, ...] = tuple(RunState)
#: States a run never leaves.
TERMINAL: frozenset[RunState] = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT}
)
#: Ends recorded as a failure in the audit log.
FAILURES: frozenset[RunState] = frozenset({RunState.FAILED, RunState.TIMED_OUT})
#: ``(from, to)``; ``None`` is a run not yet stored.
LEGAL: frozenset[tuple[RunState | None, RunState]] = frozenset(
    {
        (None, RunState.QUEUED),
        (RunState.QUEUED, RunState.RUNNING),
        (RunState.QUEUED, RunState.CANCELLED),
        (RunState.RUNNING, RunState.SUCCEEDED),
        (RunState.RUNNING, RunState.FAILED),
        (RunState.RUNNING, RunState.CANCELLED),
        (RunState.RUNNING, RunState.TIMED_OUT),
        (RunState.RUNNING, RunState.QUEUED),
    }
)


class IllegalTransition(AssertionError):
    """A writer tried a move outside :data:`LEGAL`: a bug, so it fails the transaction."""


def check_transition(from_state: str | None, to_state: str) -> None:
    """Raise :class:`IllegalTransition` unless ``from_state -> to_state`` is in :data:`LEGAL`."""
    if (from_state, to_state) not in LEGAL:
        raise IllegalTransition(f"illegal run transition {from_state} -> {to_state}")


@dataclasses.dataclass(frozen=True)
class Transition:
    """One move of one run, as stored in ``run_transitions`` and the audit log."""

    run_id: str
    workspace_id: str
    attempt: int
    from_state: RunState | None
    to_state: RunState
    reason: str | None = None
    worker: str | None = None
    details: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Finish:
    """How an attempt ended: first as the worker saw it, then (after :func:`decide`) as stored."""

    #: A terminal state, or ``queued`` once :func:`decide` chose a retry.
    state: RunState
    reason: str | None = None
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: With ``state`` ``queued``: seconds until the retry may start.
    retry_in_s: float | None = None
    #: ``{"columns": ..., "rows": ...}`` and the row count, when the engine gave a preview.
    preview: dict[str, Any] | None = None
    row_count: int | None = None
    log_uri: str | None = None
    log_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """The run's ``max_attempts`` and its job version's first backoff, doubled on each retry."""

    max_attempts: int
    backoff_s: float


def decide(ended: Finish, attempt: int, policy: RetryPolicy, *, stop_requested: bool = False) -> Finish:
    """What to store for attempt number ``attempt`` (from 1) that ended as ``ended``.

    Only a failure is retried, only while attempts remain and nobody asked the run to
    stop; the retry waits ``backoff_s * 2 ** (attempt - 1)`` seconds. Anything else is
    stored as it ended. Raises :class:`ValueError` if ``ended`` is not a terminal state.
    """
    if ended.state not in TERMINAL:
        raise ValueError(f"an attempt ends in a terminal state, not {ended.state}")
    if ended.state != RunState.FAILED or attempt >= policy.max_attempts or stop_requested:
        return ended
    wait = policy.backoff_s * 2 ** (attempt - 1)
    return dataclasses.replace(
        ended,
        state=RunState.QUEUED,
        retry_in_s=wait,
        reason=f"attempt {attempt} failed ({ended.reason}); retry in {wait:g} s",
    )
