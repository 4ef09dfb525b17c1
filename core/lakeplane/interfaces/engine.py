"""Compute engines: Trino for SQL, Spark for batch.

The worker drives an engine in four steps that survive a crash between any two:
``submit`` returns a :class:`EngineHandle` that the worker stores before it polls;
``status`` is asked until the state is terminal; ``results`` and ``logs`` are read;
``cancel`` stops the work. Any worker holding the stored handle can continue
(``status``/``cancel``/``logs`` must not depend on in-process state alone), and
``list_active`` lets the reconciler find engine work whose run has already ended.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces.base import Component


class EngineState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: The engine does not know the handle (restarted, evicted, never started).
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self not in (EngineState.QUEUED, EngineState.RUNNING)


class Identifier(str):
    """A parameter value that names a table, schema or catalog: ``orders``,
    ``sales.orders`` or ``iceberg.sales.orders``.

    Job parameters of type ``identifier`` reach engines as this type (validated at
    submit). An engine that builds SQL must write it as a quoted, qualified name,
    each part checked again by the engine's own quoting, and never paste it in as
    text; every other value stays a bind value. It is a plain ``str`` to anything
    else: ``json.dumps`` writes the name, so engines that only pass parameters on see
    a string. msgspec does not encode ``str`` subclasses: encode submissions with
    ``enc_hook=encode_value``; decoding yields a plain ``str`` again.
    """

    __slots__ = ()

    @property
    def parts(self) -> tuple[str, ...]:
        """The dot-separated parts, unchecked: ``("iceberg", "sales", "orders")``."""
        return tuple(self.split("."))


def encode_value(value: Any) -> Any:
    """msgspec ``enc_hook`` for :class:`Submission` parameters: an :class:`Identifier` as its text."""
    if isinstance(value, Identifier):
        return str(value)
    raise NotImplementedError(f"values of type {type(value).__name__} are not encodable")


#: The job type of Iceberg table maintenance on a registered dataset.
MAINTENANCE_JOB_TYPE = "iceberg-maintenance"
MaintenanceAction = Literal["expire_snapshots", "remove_orphan_files", "optimize"]


class MaintenanceSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An ``iceberg-maintenance`` job: one action on the table of a registered dataset.

    Unset values default to the dataset's retention policy when a run starts. The
    platform checks the dataset's legal hold and policy, then hands the engine the
    resolved values and the table as the ``table`` :class:`Identifier` parameter.
    """

    dataset_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    action: MaintenanceAction
    #: expire_snapshots and remove_orphan_files: only what is older than this goes.
    older_than_days: Annotated[float, msgspec.Meta(ge=0, le=36_500)] | None = None
    #: expire_snapshots: the newest this many snapshots always stay.
    keep_last: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class Submission(msgspec.Struct):
    """One attempt of one run, as handed to an engine."""

    run_id: str
    attempt: int
    #: The workspace's slug (engines may name namespaces after it).
    workspace: str
    job_type: str
    #: The job definition, already decoded into the engine's ``spec_type(job_type)``.
    spec: Any
    #: Parameter values after validation; engines pass them as bind values, never as text,
    #: except an :class:`Identifier`, which a SQL engine writes as a quoted name.
    parameters: dict[str, Any] = {}
    #: Labels tying engine work to the run (Trino client tags, Kubernetes labels).
    tags: dict[str, str] = {}
    timeout_s: float | None = None


class EngineHandle(msgspec.Struct):
    """Enough to find the work again from another process: stored on the run."""

    engine: str
    id: str
    data: dict[str, Any] = {}


class EngineStatus(msgspec.Struct):
    state: EngineState
    message: str = ""
    stats: dict[str, Any] = {}


class ResultColumn(msgspec.Struct):
    name: str
    type: str


class ResultPreview(msgspec.Struct):
    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int | None = None


class LogChunk(msgspec.Struct):
    text: str
    #: Pass back as ``offset`` to read on from here.
    offset: int


class ActiveWork(msgspec.Struct):
    handle: EngineHandle
    run_id: str | None
    #: The attempt of the run it was submitted for, when the engine keeps that tag.
    attempt: int | None = None


class Engine(Component):
    """Runs jobs of the types in ``job_types``."""

    kind: ClassVar[str] = "engine"
    job_types: ClassVar[frozenset[str]] = frozenset()
    #: What people call each job type; one left out is called by its name ("spark_batch": "Spark batch").
    job_type_labels: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def job_type_label(cls, job_type: str) -> str:
        return cls.job_type_labels.get(job_type) or job_type.replace("_", " ").replace("-", " ").capitalize()

    @classmethod
    def check_job_type(cls, job_type: str) -> None:
        """Raise :class:`~lakeplane.errors.ValidationFailed` unless the engine runs ``job_type`` jobs."""
        if job_type not in cls.job_types:
            raise ValidationFailed(
                f"the {cls.name} engine runs {', '.join(sorted(cls.job_types))} jobs, not {job_type!r}",
                [{"field": "job_type", "message": "unsupported"}],
            )

    @classmethod
    @abc.abstractmethod
    def spec_type(cls, job_type: str) -> type[msgspec.Struct]:
        """The Struct a job definition of ``job_type`` must decode into.

        Raises :class:`~lakeplane.errors.ValidationFailed` for a type not in ``job_types``
        (:meth:`check_job_type`).
        """

    @abc.abstractmethod
    async def submit(self, submission: Submission) -> EngineHandle:
        """Start the work and return as soon as it has an id; do not wait for it.

        Raises :class:`~lakeplane.errors.EngineUnavailable` when the engine cannot be reached
        (the run is retried) and :class:`~lakeplane.errors.QueryFailed` when it refuses the work.
        """

    @abc.abstractmethod
    async def status(self, handle: EngineHandle) -> EngineStatus:
        """Where the work stands now: its :class:`EngineState` and, once finished, the error.

        Work the engine no longer knows is :attr:`EngineState.LOST`, not an error. Raises
        :class:`~lakeplane.errors.EngineUnavailable` when the engine cannot be reached.
        """

    async def wait(self, handle: EngineHandle, seconds: float) -> None:
        """Return once the work may have changed state, or after ``seconds``.

        The worker calls :meth:`status` after each wait, backing off between polls. The
        default only sleeps; an engine that hears of the outcome itself (a result
        reader, a watch) returns early, so a finished job is recorded at once.
        """
        await asyncio.sleep(seconds)

    @abc.abstractmethod
    async def cancel(self, handle: EngineHandle) -> None:
        """Stop the work for good. Cancelling finished or unknown work is not an error."""

    @abc.abstractmethod
    async def results(self, handle: EngineHandle, limit: int = 100) -> ResultPreview | None:
        """The first ``limit`` rows and the row count, for work that yields rows; ``None`` for
        work that yields none (a Spark batch job, a DDL statement)."""

    @abc.abstractmethod
    async def logs(self, handle: EngineHandle, offset: int = 0) -> LogChunk:
        """Engine output from ``offset`` on, and the offset to pass back to read on.

        An empty chunk means nothing new yet; output that is gone is not an error.
        """

    @abc.abstractmethod
    async def list_active(self) -> list[ActiveWork]:
        """Work this engine is running for Lakeplane, with the run id it was tagged with.

        A worker calls it at start to adopt the work of one that died. Raises
        :class:`~lakeplane.errors.EngineUnavailable` when the engine cannot be reached.
        """
