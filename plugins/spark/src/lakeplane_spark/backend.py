"""What the Spark engine asks of a backend; one module per backend implements it."""

from __future__ import annotations

import abc
import asyncio

from lakeplane.interfaces import ActiveWork, Check, EngineHandle, EngineStatus, LogChunk, Submission
from lakeplane.security.redact import Redactor
from lakeplane_spark.conf import secret_values
from lakeplane_spark.params import SparkOptions, SparkParams
from lakeplane_spark.spec import SparkBatchSpec


class SparkBackend(abc.ABC):
    #: Stored in ``handle.data["backend"]`` so a handle finds its backend again.
    kind: str

    def __init__(self, params: SparkParams, options: SparkOptions | None = None) -> None:
        self.params = params
        self.options = options if options is not None else SparkOptions()
        self.redact = Redactor(secret_values(params))

    async def open(self) -> None:  # noqa: B027 - a backend without clients needs no override
        """Acquire clients; called once by the engine's ``open``."""

    async def close(self) -> None:  # noqa: B027
        """Release what ``open`` acquired."""

    @abc.abstractmethod
    async def checks(self) -> list[Check]:
        """Is this backend usable? (Spark and Java found; the cluster answers.)"""

    @abc.abstractmethod
    async def submit(
        self, submission: Submission, spec: SparkBatchSpec, app_source: bytes | None
    ) -> EngineHandle:
        """Start the driver. ``app_source`` is the application's code when it came from S3."""

    @abc.abstractmethod
    async def status(self, handle: EngineHandle) -> EngineStatus: ...

    async def wait(self, handle: EngineHandle, seconds: float) -> None:
        """Return once the work may have changed state, or after ``seconds``."""
        await asyncio.sleep(seconds)

    @abc.abstractmethod
    async def cancel(self, handle: EngineHandle) -> None: ...

    @abc.abstractmethod
    async def logs(self, handle: EngineHandle, offset: int) -> LogChunk: ...

    @abc.abstractmethod
    async def list_active(self) -> list[ActiveWork]: ...
