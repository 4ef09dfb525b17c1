"""The run lifecycle's rules on their own: states, legal moves and the retry decision."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.domain.runs.lifecycle import (
    LEGAL,
    TERMINAL,
    Finish,
    IllegalTransition,
    RetryPolicy,
    RunState,
    check_transition,
    decide,
)

ends = st.sampled_from(sorted(TERMINAL))
finishes = st.builds(
    Finish,
    state=ends,
    reason=st.none() | st.text(max_size=20),
    stats=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    preview=st.none() | st.just({"columns": [], "rows": []}),
    row_count=st.none() | st.integers(min_value=0),
    log_uri=st.none() | st.just("lakeplane-store://logs/runs/ws/run/log.txt"),
)
policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(min_value=1, max_value=20),
    backoff_s=st.floats(min_value=0, max_value=3600, allow_nan=False),
)
attempts = st.integers(min_value=1, max_value=25)


def test_the_stored_values_are_the_ones_the_database_and_the_api_have_always_used() -> None:
    assert [state.value for state in RunState] == [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "timed_out",
    ]
    assert RunState("timed_out") is RunState.TIMED_OUT
    assert f"{RunState.RUNNING}" == "running" == RunState.RUNNING


@pytest.mark.parametrize("to_state", list(RunState))
@pytest.mark.parametrize("from_state", [None, *RunState])
def test_check_transition_refuses_exactly_the_moves_outside_the_table(
    from_state: RunState | None, to_state: RunState
) -> None:
    if (from_state, to_state) in LEGAL:
        check_transition(from_state, to_state)
    else:
        with pytest.raises(IllegalTransition, match="illegal run transition"):
            check_transition(from_state, to_state)


def test_a_terminal_state_is_never_left_and_states_read_back_as_text_are_checked_alike() -> None:
    assert not [(a, b) for a, b in LEGAL if a in TERMINAL]
    assert all(state.terminal == (state in TERMINAL) for state in RunState)
    check_transition("running", "queued")
    with pytest.raises(IllegalTransition):
        check_transition("running", "exploded")
    with pytest.raises(AssertionError):  # the recorder's callers see a bug, not a refusal
        check_transition("succeeded", "running")


@given(finishes, attempts, policies, st.booleans())
def test_the_decision_is_always_a_legal_move_from_running(
    ended: Finish, attempt: int, policy: RetryPolicy, stop: bool
) -> None:
    decided = decide(ended, attempt, policy, stop_requested=stop)
    check_transition(RunState.RUNNING, decided.state)
    assert decided.state in (ended.state, RunState.QUEUED)


@given(finishes, attempts, policies, st.booleans())
def test_only_a_failure_with_attempts_left_and_no_stop_is_retried(
    ended: Finish, attempt: int, policy: RetryPolicy, stop: bool
) -> None:
    decided = decide(ended, attempt, policy, stop_requested=stop)
    retried = decided.state is RunState.QUEUED
    assert retried == (ended.state is RunState.FAILED and attempt < policy.max_attempts and not stop)
    if not retried:
        assert decided == ended
        assert decided.retry_in_s is None


@given(finishes, attempts, policies)
def test_a_cancel_and_a_stopped_run_are_never_retried(
    ended: Finish, attempt: int, policy: RetryPolicy
) -> None:
    cancelled = dataclasses.replace(ended, state=RunState.CANCELLED)
    assert decide(cancelled, attempt, policy).state is RunState.CANCELLED
    failed = dataclasses.replace(ended, state=RunState.FAILED)
    assert decide(failed, attempt, policy, stop_requested=True).state is RunState.FAILED


@given(finishes, attempts, policies)
def test_a_retry_waits_the_doubled_backoff_and_keeps_what_the_attempt_gave(
    ended: Finish, attempt: int, policy: RetryPolicy
) -> None:
    failed = dataclasses.replace(ended, state=RunState.FAILED)
    decided = decide(failed, attempt, policy)
    if attempt >= policy.max_attempts:
        assert decided == failed
        return
    assert decided.retry_in_s == policy.backoff_s * 2 ** (attempt - 1)
    assert decided.reason == f"attempt {attempt} failed ({failed.reason}); retry in {decided.retry_in_s:g} s"
    assert dataclasses.replace(decided, state=failed.state, reason=failed.reason, retry_in_s=None) == failed


@given(policies)
def test_a_run_that_always_fails_gets_exactly_its_max_attempts(policy: RetryPolicy) -> None:
    attempt, state = 0, RunState.QUEUED
    chain: list[tuple[RunState, RunState]] = []
    while state is RunState.QUEUED:
        attempt += 1
        chain.append((state, RunState.RUNNING))
        state = decide(Finish(RunState.FAILED, "boom"), attempt, policy).state
        chain.append((RunState.RUNNING, state))
        assert attempt <= policy.max_attempts
    assert attempt == policy.max_attempts
    assert state is RunState.FAILED
    assert all(move in LEGAL for move in chain)


@pytest.mark.parametrize("state", [RunState.QUEUED, RunState.RUNNING])
def test_an_attempt_cannot_end_in_a_live_state(state: RunState) -> None:
    with pytest.raises(ValueError, match="terminal"):
        decide(Finish(state), 1, RetryPolicy(3, 1.0))
