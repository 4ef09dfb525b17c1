"""The contract every :class:`~lakeplane.interfaces.Engine` keeps, run against a real engine.

Subclass :class:`EngineContract` and provide two fixtures:

``engine``
    an *opened* engine on the session event loop;
``job``
    a :data:`JobFactory`: ``job(kind)`` gives ``(job_type, spec)`` for ``"quick"``
    (succeeds within seconds), ``"long"`` (runs for minutes unless cancelled) and
    ``"failing"`` (fails with a message); :func:`fixed_jobs` makes one from a spec per kind.

The worker's crash recovery rests on one promise: a stored handle is all another
process needs. Here "another process" is a second instance built from the first
one's ``params`` and ``options``, holding only the handle after a round trip
through msgspec JSON. ``unknown_handle`` (override it to shape an id the engine
would accept) is a handle the engine never issued.

An engine that cannot honestly keep a promise says so with a capability flag; the
tests then check the weaker promise that remains instead of skipping:

``cancels_from_any_process``
    a cancel through another instance stops the work for every instance. If not,
    only the submitting instance is expected to cancel.
``lists_active_work``
    ``list_active`` finds running work and the run it is tagged with. If not, it
    must claim no work at all (an empty list), so the reconciler kills nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any, ClassVar, Literal

import msgspec
import pytest
import pytest_asyncio

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import (
    Engine,
    EngineHandle,
    EngineState,
    EngineStatus,
    LogChunk,
    ResultPreview,
    Submission,
)

JobKind = Literal["quick", "long", "failing"]
#: ``job(kind)`` -> ``(job_type, spec)``, the spec already of ``engine.spec_type(job_type)``.
JobFactory = Callable[[JobKind], tuple[str, Any]]

_RUNNING = frozenset({EngineState.QUEUED, EngineState.RUNNING})


def fixed_jobs(job_type: str, specs: Mapping[JobKind, Any]) -> JobFactory:
    """A :data:`JobFactory` for an engine whose jobs are one spec per kind, all of ``job_type``."""

    def job(kind: JobKind) -> tuple[str, Any]:
        return job_type, specs[kind]

    return job


def make_submission(job: JobFactory, kind: JobKind, **fields: Any) -> Submission:
    """A submission of a ``kind`` job for a fresh run id; ``fields`` override the rest."""
    job_type, spec = job(kind)
    values: dict[str, Any] = {
        "run_id": f"run_contract_{uuid.uuid4().hex[:16]}",
        "attempt": 1,
        "workspace": "contract",
        "job_type": job_type,
        "spec": spec,
    }
    values.update(fields)
    return Submission(**values)


async def wait_for_state(
    engine: Engine, handle: EngineHandle, states: Collection[EngineState], timeout_s: float
) -> EngineStatus:
    """Poll ``status`` until it is one of ``states``; fail with the last status after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await engine.status(handle)
        if status.state in states:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.id} still {status.state} after {timeout_s}s: {status.message}")
        await asyncio.sleep(0.2)


async def wait_until_terminal(engine: Engine, handle: EngineHandle, timeout_s: float) -> EngineStatus:
    return await wait_for_state(engine, handle, [s for s in EngineState if s.terminal], timeout_s)


def round_trip(handle: EngineHandle) -> EngineHandle:
    """The handle as a worker gets it back from the metadata database."""
    return msgspec.json.decode(msgspec.json.encode(handle), type=EngineHandle)


class EngineContract:
    """Behaviour every engine plugin must show. See the module docstring for fixtures and flags."""

    pytestmark: ClassVar = [pytest.mark.asyncio(loop_scope="session")]

    cancels_from_any_process: ClassVar[bool] = True
    lists_active_work: ClassVar[bool] = True
    #: Seconds a quick job, a failure or a cancellation may take to show in ``status``.
    settle_timeout_s: ClassVar[float] = 60.0

    @pytest_asyncio.fixture(loop_scope="session")
    async def other_engine(self, engine: Engine) -> AsyncIterator[Engine]:
        """A second instance with the same configuration: the worker in another process."""
        async with type(engine)(engine.params, engine.options) as other:
            yield other

    @pytest.fixture
    def unknown_handle(self, engine: Engine) -> EngineHandle:
        return EngineHandle(engine=engine.name, id=f"lakeplane-contract-unknown-{uuid.uuid4().hex[:12]}")

    async def _active_runs(self, engine: Engine) -> dict[str, str | None]:
        """Active work by handle id, with the run id each is tagged with."""
        return {work.handle.id: work.run_id for work in await engine.list_active()}

    # -- job types ------------------------------------------------------------------------

    async def test_each_job_type_has_a_spec_and_no_other_does(self, engine: Engine) -> None:
        assert engine.job_types, "an engine runs at least one job type"
        for job_type in engine.job_types:
            assert issubclass(engine.spec_type(job_type), msgspec.Struct)
        with pytest.raises(ValidationFailed):
            engine.spec_type("lakeplane-contract-no-such-job-type")

    # -- lifecycle ------------------------------------------------------------------------

    async def test_quick_job_succeeds(self, engine: Engine, job: JobFactory) -> None:
        handle = await engine.submit(make_submission(job, "quick"))
        assert handle.engine == engine.name
        assert handle.id
        status = await wait_until_terminal(engine, handle, self.settle_timeout_s)
        assert status.state is EngineState.SUCCEEDED, status.message

    async def test_submit_returns_while_long_work_runs(self, engine: Engine, job: JobFactory) -> None:
        handle = await engine.submit(make_submission(job, "long"))
        try:
            assert (await engine.status(handle)).state in _RUNNING
        finally:
            await engine.cancel(handle)

    async def test_wait_returns_within_its_bound(
        self, engine: Engine, job: JobFactory, unknown_handle: EngineHandle
    ) -> None:
        """``wait`` may return early, never much later than asked: the worker's stop and timeout depend on it."""
        handle = await engine.submit(make_submission(job, "long"))
        try:
            for subject in (handle, unknown_handle):
                started = time.monotonic()
                await engine.wait(subject, 0.3)
                assert time.monotonic() - started < 5.0
        finally:
            await engine.cancel(handle)

    async def test_failing_job_fails_with_a_message(self, engine: Engine, job: JobFactory) -> None:
        handle = await engine.submit(make_submission(job, "failing"))
        status = await wait_until_terminal(engine, handle, self.settle_timeout_s)
        assert status.state is EngineState.FAILED
        assert status.message.strip()

    async def test_cancel_stops_long_work(self, engine: Engine, job: JobFactory) -> None:
        handle = await engine.submit(make_submission(job, "long"))
        try:
            await wait_for_state(engine, handle, [EngineState.RUNNING], self.settle_timeout_s)
        finally:
            await engine.cancel(handle)
        status = await wait_until_terminal(engine, handle, self.settle_timeout_s)
        assert status.state is EngineState.CANCELLED, status.message
        await self._wait_gone_from_active(engine, handle)

    async def _wait_gone_from_active(self, engine: Engine, handle: EngineHandle) -> None:
        deadline = time.monotonic() + self.settle_timeout_s
        while handle.id in await self._active_runs(engine):
            assert time.monotonic() < deadline, f"{handle.id} is still listed as active after cancel"
            await asyncio.sleep(0.2)

    async def test_cancelling_finished_or_unknown_work_is_not_an_error(
        self, engine: Engine, job: JobFactory, unknown_handle: EngineHandle
    ) -> None:
        handle = await engine.submit(make_submission(job, "quick"))
        assert (
            await wait_until_terminal(engine, handle, self.settle_timeout_s)
        ).state is EngineState.SUCCEEDED
        await engine.cancel(handle)
        assert (await engine.status(handle)).state is EngineState.SUCCEEDED
        await engine.cancel(unknown_handle)

    async def test_unknown_handle_is_lost(self, engine: Engine, unknown_handle: EngineHandle) -> None:
        assert (await engine.status(unknown_handle)).state is EngineState.LOST

    # -- another process ------------------------------------------------------------------

    async def test_another_process_follows_a_job_from_its_handle(
        self, engine: Engine, other_engine: Engine, job: JobFactory
    ) -> None:
        handle = await engine.submit(make_submission(job, "quick"))
        restored = round_trip(handle)
        assert restored == handle
        status = await wait_until_terminal(other_engine, restored, self.settle_timeout_s)
        assert status.state is EngineState.SUCCEEDED, status.message
        assert isinstance(await other_engine.logs(restored), LogChunk)

    async def test_another_process_cancels_from_the_handle(
        self, engine: Engine, other_engine: Engine, job: JobFactory
    ) -> None:
        handle = await engine.submit(make_submission(job, "long"))
        restored = round_trip(handle)
        try:
            assert (await other_engine.status(restored)).state in _RUNNING
        finally:
            if self.cancels_from_any_process:
                await other_engine.cancel(restored)
            else:
                await engine.cancel(handle)
        assert (
            await wait_until_terminal(engine, handle, self.settle_timeout_s)
        ).state is EngineState.CANCELLED
        if self.cancels_from_any_process:
            assert (await other_engine.status(restored)).state is EngineState.CANCELLED

    # -- tags and the reconciler ----------------------------------------------------------

    async def test_work_is_tagged_with_its_run(self, engine: Engine, job: JobFactory) -> None:
        submission = make_submission(job, "long")
        handle = await engine.submit(submission)
        try:
            if not self.lists_active_work:
                assert await engine.list_active() == []
                return
            deadline = time.monotonic() + self.settle_timeout_s
            while (active := await self._active_runs(engine)).get(handle.id) is None:
                assert time.monotonic() < deadline, f"{handle.id} never showed in list_active"
                await asyncio.sleep(0.2)
            assert active[handle.id] == submission.run_id
            listed = next(w.handle for w in await engine.list_active() if w.handle.id == handle.id)
            assert listed.engine == engine.name
            assert (await engine.status(round_trip(listed))).state in _RUNNING
        finally:
            await engine.cancel(handle)

    # -- output ---------------------------------------------------------------------------

    async def test_logs_read_on_from_an_offset(self, engine: Engine, job: JobFactory) -> None:
        handle = await engine.submit(make_submission(job, "quick"))
        await wait_until_terminal(engine, handle, self.settle_timeout_s)
        await engine.results(handle)  # once the worker has read the results, the log is final
        whole = await engine.logs(handle)
        assert whole.offset >= len(whole.text)
        middle = len(whole.text) // 2
        rest = await engine.logs(handle, middle)
        assert rest.text == whole.text[middle:]
        assert rest.offset == whole.offset
        assert (await engine.logs(handle, whole.offset)).text == ""

    async def test_results_respect_the_limit(self, engine: Engine, job: JobFactory) -> None:
        handle = await engine.submit(make_submission(job, "quick"))
        await wait_until_terminal(engine, handle, self.settle_timeout_s)
        preview = await engine.results(handle, limit=1)
        if preview is None:
            return
        assert isinstance(preview, ResultPreview)
        assert len(preview.rows) <= 1
        assert all(len(row) == len(preview.columns) for row in preview.rows)
        assert preview.row_count is None or preview.row_count >= len(preview.rows)
