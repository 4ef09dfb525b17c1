"""The ``noop`` engine: finishes at once or after a delay. For pipelines and benchmarks.

Its handle carries the start time and delay, so any process can answer ``status``
for it: exactly what the worker's crash recovery needs to be testable.
"""

from __future__ import annotations

import time
import uuid
from typing import ClassVar

import msgspec

from lakeplane.hookspecs import hookimpl
from lakeplane.interfaces import (
    ActiveWork,
    CheckResult,
    Engine,
    EngineHandle,
    EngineState,
    EngineStatus,
    LogChunk,
    ResultPreview,
    Submission,
)
from lakeplane.plugins import Registry


class NoopSpec(msgspec.Struct, forbid_unknown_fields=True):
    delay_s: float = msgspec.field(default=0.0)
    fail: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.delay_s <= 86_400:
            raise ValueError("delay_s must be between 0 and 86400")


class NoopParams(msgspec.Struct, forbid_unknown_fields=True):
    pass


class NoopEngine(Engine):
    name: ClassVar[str] = "noop"
    description: ClassVar[str] = "Finishes at once or after a delay; for testing pipelines"
    Params: ClassVar[type[msgspec.Struct]] = NoopParams
    job_types: ClassVar[frozenset[str]] = frozenset({"noop"})
    job_type_labels = {"noop": "No-op (testing)"}
    _cancelled: ClassVar[set[str]] = set()

    @classmethod
    def spec_type(cls, job_type: str) -> type[msgspec.Struct]:
        cls.check_job_type(job_type)
        return NoopSpec

    async def health(self) -> CheckResult:
        return CheckResult(ok=True, checks=[])

    async def validate(self) -> CheckResult:
        return CheckResult(ok=True, checks=[])

    async def submit(self, submission: Submission) -> EngineHandle:
        spec = submission.spec
        assert isinstance(spec, NoopSpec)
        return EngineHandle(
            engine=self.name,
            id=f"noop-{uuid.uuid4().hex[:12]}",
            data={
                "started": time.time(),
                "delay_s": spec.delay_s,
                "fail": spec.fail,
                "message": spec.message,
                "run_id": submission.run_id,
            },
        )

    async def status(self, handle: EngineHandle) -> EngineStatus:
        if handle.id in self._cancelled:
            return EngineStatus(EngineState.CANCELLED, "cancelled")
        if "started" not in handle.data:
            return EngineStatus(EngineState.LOST, "not a handle the noop engine issued")
        elapsed = time.time() - float(handle.data["started"])
        if elapsed < float(handle.data["delay_s"]):
            return EngineStatus(EngineState.RUNNING, stats={"elapsed_s": round(elapsed, 3)})
        if handle.data.get("fail"):
            return EngineStatus(EngineState.FAILED, str(handle.data.get("message") or "failed on request"))
        return EngineStatus(EngineState.SUCCEEDED, str(handle.data.get("message", "")))

    async def cancel(self, handle: EngineHandle) -> None:
        if not (await self.status(handle)).state.terminal:  # an outcome, once reached, stays
            self._cancelled.add(handle.id)

    async def results(self, handle: EngineHandle, limit: int = 100) -> ResultPreview | None:
        return None

    async def logs(self, handle: EngineHandle, offset: int = 0) -> LogChunk:
        text = f"noop {handle.id}: delay {handle.data['delay_s']}s\n"
        return LogChunk(text=text[offset:], offset=len(text))

    async def list_active(self) -> list[ActiveWork]:
        return []


@hookimpl
def lakeplane_register_engines(registry: Registry) -> None:
    registry.add(NoopEngine)
