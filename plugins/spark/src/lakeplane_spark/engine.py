"""The ``spark`` engine: runs ``spark_batch`` jobs on the backend its connection names.

A connection's ``backend`` picks :class:`~lakeplane_spark.local.LocalBackend`
(spark-submit on this host) or :class:`~lakeplane_spark.kubernetes.backend.KubernetesBackend`
(a driver in the workspace's namespace). Both keep everything needed to find a run
again in ``handle.data``, so any worker holding the handle can ask for its status,
logs or cancellation.
"""

from __future__ import annotations

import time
from typing import ClassVar

import httpx
import msgspec

from lakeplane.interfaces import (
    ActiveWork,
    Check,
    CheckResult,
    CheckStatus,
    Engine,
    EngineHandle,
    EngineState,
    EngineStatus,
    LogChunk,
    ResultPreview,
    Submission,
)
from lakeplane.security.connect import guarded_httpx_transport
from lakeplane.timeutil import elapsed_ms
from lakeplane_spark.backend import SparkBackend
from lakeplane_spark.objects import fetch_application, s3_client
from lakeplane_spark.params import SparkOptions, SparkParams
from lakeplane_spark.spec import SparkBatchSpec, check_against, decode_spec

JOB_TYPE = "spark_batch"


def make_backend(kind: str, params: SparkParams, options: SparkOptions | None = None) -> SparkBackend:
    if kind == "local":
        from lakeplane_spark.local import LocalBackend

        return LocalBackend(params, options)
    if kind == "kubernetes":
        # Imported only when used: kubernetes-asyncio is an optional dependency.
        from lakeplane_spark.kubernetes.backend import KubernetesBackend

        return KubernetesBackend(params, options)
    raise ValueError(f"unknown Spark backend {kind!r}")


class SparkEngine(Engine):
    name: ClassVar[str] = "spark"
    description: ClassVar[str] = "Spark batch jobs: spark-submit on this host, or a driver on Kubernetes"
    Params: ClassVar[type[msgspec.Struct]] = SparkParams
    Options: ClassVar[type[msgspec.Struct]] = SparkOptions
    job_types: ClassVar[frozenset[str]] = frozenset({JOB_TYPE})
    job_type_labels = {JOB_TYPE: "Spark batch"}

    params: SparkParams
    options: SparkOptions

    def __init__(self, params: SparkParams, options: SparkOptions | None = None) -> None:
        super().__init__(params, options)
        self.backend = make_backend(params.backend, params, self.options)
        self._others: dict[str, SparkBackend] = {}

    @classmethod
    def spec_type(cls, job_type: str) -> type[msgspec.Struct]:
        cls.check_job_type(job_type)
        return SparkBatchSpec

    async def open(self) -> None:
        await self.backend.open()

    async def close(self) -> None:
        for backend in (self.backend, *self._others.values()):
            await backend.close()

    async def health(self) -> CheckResult:
        started = time.perf_counter()
        return CheckResult.of(await self.backend.checks(), started)

    async def validate(self) -> CheckResult:
        started = time.perf_counter()
        checks = await self.backend.checks()
        checks.append(await self._check_object_store())
        checks.append(await self._check_catalog())
        return CheckResult.of(checks, started)

    async def submit(self, submission: Submission) -> EngineHandle:
        spec = decode_spec(submission.spec)
        check_against(spec, self.params)
        app_source = None
        if spec.application.startswith("s3://"):
            app_source = await fetch_application(self.params, spec.application)
        return await self.backend.submit(submission, spec, app_source)

    async def status(self, handle: EngineHandle) -> EngineStatus:
        backend = self._backend_of(handle)
        if backend is None:
            return EngineStatus(EngineState.LOST, f"handle {handle.id} was not issued by a Spark backend")
        return await backend.status(handle)

    async def wait(self, handle: EngineHandle, seconds: float) -> None:
        backend = self._backend_of(handle)
        if backend is None:
            await super().wait(handle, seconds)
            return
        await backend.wait(handle, seconds)

    async def cancel(self, handle: EngineHandle) -> None:
        backend = self._backend_of(handle)
        if backend is not None:
            await backend.cancel(handle)

    async def results(self, handle: EngineHandle, limit: int = 100) -> ResultPreview | None:
        """Batch jobs write tables; they return no rows. Counts are in ``status().stats``."""
        return None

    async def logs(self, handle: EngineHandle, offset: int = 0) -> LogChunk:
        backend = self._backend_of(handle)
        if backend is None:
            return LogChunk(text="", offset=offset)
        return await backend.logs(handle, offset)

    async def list_active(self) -> list[ActiveWork]:
        return await self.backend.list_active()

    def _backend_of(self, handle: EngineHandle) -> SparkBackend | None:
        """The backend that started ``handle`` (even if the connection has switched since), if any."""
        kind = str(handle.data.get("backend", ""))
        if kind == self.backend.kind:
            return self.backend
        if kind not in ("local", "kubernetes"):
            return None
        if kind not in self._others:
            self._others[kind] = make_backend(kind, self.params, self.options)
        return self._others[kind]

    async def _check_object_store(self) -> Check:
        started = time.perf_counter()
        try:
            async with s3_client(self.params) as client:
                await client.list_buckets()
        except Exception as exc:  # any failure is the check's answer, not an error
            return Check(
                "object store", CheckStatus.FAILED, self.backend.redact(str(exc)), elapsed_ms(started)
            )
        return Check("object store", CheckStatus.OK, self.params.s3_endpoint, elapsed_ms(started))

    async def _check_catalog(self) -> Check:
        """Get an OAuth2 token with the connection's credential and read the catalog's config."""
        started = time.perf_counter()
        uri = self.params.catalog_uri.rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=5.0, transport=guarded_httpx_transport()) as client:
                headers = {}
                if self.params.catalog_credential:
                    client_id, _, secret = self.params.catalog_credential.partition(":")
                    token = await client.post(
                        f"{uri}/v1/oauth/tokens",
                        data={
                            "grant_type": "client_credentials",
                            "client_id": client_id,
                            "client_secret": secret,
                            "scope": "catalog",
                        },
                    )
                    token.raise_for_status()
                    headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                config = await client.get(
                    f"{uri}/v1/config", params={"warehouse": self.params.warehouse}, headers=headers
                )
                config.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            return Check("catalog", CheckStatus.FAILED, self.backend.redact(str(exc)), elapsed_ms(started))
        return Check("catalog", CheckStatus.OK, uri, elapsed_ms(started))
