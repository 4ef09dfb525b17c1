# Long module: the Engine methods share the tracked queries and the one HTTP session to the coordinator.
"""The ``trino`` engine: ``trino_sql`` jobs on a Trino coordinator, over its HTTP APIs.

Why HTTP with httpx rather than the ``trino`` client: the client's ``execute()``
blocks until the first rows arrive (for ``SELECT count(*)`` over a big table, until
the query is done), keeps the query's state in process-local objects, and would
hold a thread per running query. Talking the protocol directly lets ``submit``
return as soon as the query is dispatched, reads results in a plain asyncio task,
and uses Trino's query REST API for everything another process must do with a
stored handle: ``status``, ``cancel``, ``logs`` and ``list_active``.

What a handle holds (``EngineHandle.data``): ``coordinator`` (base URL),
``query_uri`` (the query's REST resource), ``info_uri`` (Trino's web UI page),
``run_id`` and ``attempt``. Another process reaches Trino through its *own*
connection parameters and the query id; it never sends credentials to a URL read
from storage. A ``nextUri`` is not kept: its token advances with every page, so a
stored one could neither resume reading nor is it needed to cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import math
import re
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from lakeplane.errors import BadCredentials, LakeplaneError, QueryFailed, ValidationFailed
from lakeplane.interfaces import (
    MAINTENANCE_JOB_TYPE,
    ActiveWork,
    Check,
    CheckResult,
    CheckStatus,
    Engine,
    EngineHandle,
    EngineState,
    EngineStatus,
    Identifier,
    LogChunk,
    MaintenanceSpec,
    ResultColumn,
    ResultPreview,
    Submission,
)
from lakeplane.timeutil import elapsed_ms
from lakeplane_trino._protocol import DONE_STATES, TrinoHttp, query_failed
from lakeplane_trino._query import TrackedQuery, status_from_info, summary_log
from lakeplane_trino._sql import bind_statement, quote_identifier
from lakeplane_trino._structs import TrinoOptions, TrinoParams, TrinoSqlSpec

#: Client tag naming the run a query belongs to: ``lakeplane-run=<run id>``.
RUN_TAG = "lakeplane-run"
ATTEMPT_TAG = "lakeplane-attempt"
_TAG_PART = re.compile(r"[A-Za-z0-9_.:/@+-]{1,200}")
#: Added to a submission's timeout for Trino's own ``query_max_run_time``.
TIMEOUT_GRACE_S = 60


@functools.cache
def _version() -> str:
    try:
        return importlib.metadata.version("lakeplane-plugin-trino")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


#: Slack of ``keep_last``: snapshots up to this much older than the last kept one stay too.
KEEP_LAST_MARGIN_S = 60


class TrinoEngine(Engine):
    """Runs one SQL statement per ``trino_sql`` job on a Trino coordinator, and
    ``iceberg-maintenance`` jobs as ``ALTER TABLE ... EXECUTE`` on the connection's catalog."""

    name: ClassVar[str] = "trino"
    description: ClassVar[str] = "Trino SQL: one statement per job, parameters bound as values"
    Params: ClassVar[type[msgspec.Struct]] = TrinoParams
    Options: ClassVar[type[msgspec.Struct]] = TrinoOptions
    job_types: ClassVar[frozenset[str]] = frozenset({"trino_sql", MAINTENANCE_JOB_TYPE})
    job_type_labels = {"trino_sql": "Trino SQL"}

    params: TrinoParams
    options: TrinoOptions

    def __init__(self, params: TrinoParams | Mapping[str, Any], options: TrinoOptions | None = None) -> None:
        if not isinstance(params, TrinoParams):
            params = msgspec.convert(params, TrinoParams)
        super().__init__(params, options)
        self._http: TrinoHttp | None = None
        #: Queries this process reads, oldest first; finished ones are evicted beyond a limit.
        self._tracked: OrderedDict[str, TrackedQuery] = OrderedDict()

    @classmethod
    def spec_type(cls, job_type: str) -> type[msgspec.Struct]:
        cls.check_job_type(job_type)
        return MaintenanceSpec if job_type == MAINTENANCE_JOB_TYPE else TrinoSqlSpec

    async def open(self) -> None:
        self._http = TrinoHttp(self.params, f"lakeplane-trino/{_version()}")

    async def close(self) -> None:
        """Stop reading results and release connections; running queries are not cancelled."""
        tasks = [q.task for q in self._tracked.values() if q.task is not None and not q.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> TrinoHttp:
        if self._http is None:
            raise RuntimeError("TrinoEngine is not open: use 'async with TrinoEngine(...)'")
        return self._http

    # -- health ---------------------------------------------------------------------------

    async def health(self) -> CheckResult:
        started = time.perf_counter()
        return CheckResult.of([await self._coordinator_check()], started)

    async def validate(self) -> CheckResult:
        """Reachable, credentials accepted, ``SELECT 1`` works, named catalog and schema exist."""
        started = time.perf_counter()
        checks = [await self._coordinator_check()]
        steps = [self._query_checks]
        if self.params.catalog is not None:
            steps.append(self._catalog_check)
        for step in steps:
            if checks[-1].status is not CheckStatus.OK:
                break
            checks.extend(await step())
        return CheckResult.of(checks, started)

    async def _coordinator_check(self) -> Check:
        started = time.perf_counter()
        try:
            info = await self.http.server_info()
        except LakeplaneError as exc:
            return _failed("reachable", started, exc.detail)
        version = info.node_version.get("version", "?")
        if info.starting:
            return _failed("reachable", started, f"Trino {version} at {self.http.base_url} is still starting")
        return _passed("reachable", started, f"Trino {version} ({info.environment})")

    async def _query_checks(self) -> list[Check]:
        started = time.perf_counter()
        try:
            result = await self.execute("SELECT 1")
        except BadCredentials as exc:
            return [_failed("credentials", started, exc.detail)]
        except QueryFailed as exc:
            return [_passed("credentials", started), _failed("select_1", started, exc.detail)]
        except LakeplaneError as exc:
            return [_failed("select_1", started, exc.detail)]
        if result.rows != [[1]]:
            return [_passed("credentials", started), _failed("select_1", started, f"answer {result.rows!r}")]
        return [_passed("credentials", started), _passed("select_1", started)]

    async def _catalog_check(self) -> list[Check]:
        catalog, schema = self.params.catalog, self.params.schema
        assert catalog is not None
        started = time.perf_counter()
        try:
            found = await self.execute(
                "SELECT count(*) FROM system.metadata.catalogs WHERE catalog_name = :catalog",
                {"catalog": catalog},
            )
        except LakeplaneError as exc:
            return [_failed("catalog", started, exc.detail)]
        if found.rows != [[1]]:
            return [_failed("catalog", started, f"Trino has no catalog {catalog!r} visible to this user")]
        checks = [_passed("catalog", started)]
        if schema is not None:
            started = time.perf_counter()
            try:
                found = await self.execute(
                    f"SELECT count(*) FROM {quote_identifier(catalog)}.information_schema.schemata "  # noqa: S608 - a checked, quoted identifier
                    "WHERE schema_name = :schema",
                    {"schema": schema},
                )
            except LakeplaneError as exc:
                return [*checks, _failed("schema", started, exc.detail)]
            if found.rows != [[1]]:
                return [*checks, _failed("schema", started, f"catalog {catalog!r} has no schema {schema!r}")]
            checks.append(_passed("schema", started))
        return checks

    # -- jobs -----------------------------------------------------------------------------

    async def submit(self, submission: Submission) -> EngineHandle:
        if submission.job_type == MAINTENANCE_JOB_TYPE:
            spec = await self._maintenance_statement(submission)
            statement = spec.sql
        else:
            spec = _decode_spec(submission.spec)
            statement = bind_statement(spec.sql, submission.parameters)
        headers = self._headers(spec, _client_tags(submission), submission.timeout_s)
        page = await self.http.start(statement, headers)
        query = TrackedQuery(page, self.options.preview_rows, self.options.progress_interval_s)
        # Trino dispatches a query only when its first nextUri is fetched; before that no
        # other process can find it, so that fetch happens before the handle is handed out.
        if query.next_uri is not None:
            query.absorb(await self.http.fetch(query.next_uri))
        self._track(query)
        query.task = asyncio.create_task(query.read_to_end(self.http), name=f"trino-results-{query.query_id}")
        return self._handle(query.query_id, page.info_uri, submission.run_id, submission.attempt)

    async def _maintenance_statement(self, submission: Submission) -> TrinoSqlSpec:
        """``ALTER TABLE ... EXECUTE`` for the resolved spec on the ``table`` parameter (``schema.table``)."""
        spec = submission.spec
        if not isinstance(spec, MaintenanceSpec):
            spec = msgspec.convert(spec, MaintenanceSpec)
        table = submission.parameters.get("table")
        if not isinstance(table, Identifier) or len(table.parts) != 2:
            raise ValidationFailed(
                "maintenance needs the table as a schema.table identifier",
                [{"field": "table", "message": "required"}],
            )
        if self.params.catalog is None:
            raise ValidationFailed(
                "maintenance needs the Trino connection's catalog: set 'catalog' to the Iceberg catalog",
                [{"field": "catalog", "message": "required for iceberg-maintenance"}],
            )
        schema, name = table.parts
        target = f"{quote_identifier(schema)}.{quote_identifier(name)}"
        if spec.action == "optimize":
            sql = f"ALTER TABLE {target} EXECUTE optimize"
        else:
            threshold_s = math.ceil((spec.older_than_days or 0) * 86_400)
            if spec.action == "expire_snapshots" and spec.keep_last is not None and spec.keep_last > 1:
                threshold_s = max(threshold_s, await self._keep_last_threshold(schema, name, spec.keep_last))
            sql = f"ALTER TABLE {target} EXECUTE {spec.action}(retention_threshold => '{threshold_s}s')"
        return TrinoSqlSpec(sql=sql, catalog=self.params.catalog)

    async def _keep_last_threshold(self, schema: str, name: str, keep_last: int) -> int:
        """Seconds that spare the newest ``keep_last`` snapshots: the age of the last of them plus
        :data:`KEEP_LAST_MARGIN_S`, as Trino measures the threshold from when the ``ALTER`` starts.
        (Iceberg always keeps the current snapshot, so ``keep_last`` 1 needs no query.)"""
        quote_identifier(name)  # a plain identifier, so the suffixed name below is one too
        snapshots = f'{quote_identifier(schema)}."{name}$snapshots"'
        found = await self.execute(
            "SELECT to_unixtime(current_timestamp) - to_unixtime(min(committed_at)) FROM "  # noqa: S608 - checked, quoted names
            f"(SELECT committed_at FROM {snapshots} ORDER BY committed_at DESC LIMIT {int(keep_last)})",
            catalog=self.params.catalog,
        )
        age = found.rows[0][0] if found.rows else None
        return 0 if age is None else math.ceil(float(age)) + KEEP_LAST_MARGIN_S

    async def status(self, handle: EngineHandle) -> EngineStatus:
        """From this process's reader while it is current, else from Trino's ``/v1/query``."""
        query = self._tracked.get(handle.id)
        if query is not None and query.current:
            return query.status()
        info = await self.http.query_info(handle.id)
        if info is None:
            return EngineStatus(
                EngineState.LOST,
                f"Trino at {self.http.base_url} does not know query {handle.id!r}: it never started, "
                "was forgotten some time after it ended, or the coordinator restarted",
            )
        return status_from_info(info)

    async def wait(self, handle: EngineHandle, seconds: float) -> None:
        """Until this process's reader has the whole result (or ``seconds``): no polling lag."""
        query = self._tracked.get(handle.id)
        if query is None or query.done.is_set():
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(query.done.wait(), seconds)

    async def cancel(self, handle: EngineHandle) -> None:
        await self.http.kill(handle.id)
        query = self._tracked.get(handle.id)
        if query is not None and query.task is not None and not query.task.done():
            query.note("cancelled on request")
            query.task.cancel()
            await asyncio.gather(query.task, return_exceptions=True)

    async def results(self, handle: EngineHandle, limit: int = 100) -> ResultPreview | None:
        """Preview and row count as read by this process; from another, only the row count.

        A process that did not submit the query never saw its rows: it answers with
        the column names and Trino's output row count for a finished query, no rows.
        """
        query = self._tracked.get(handle.id)
        if query is not None:
            if not query.done.is_set() and await self._ended_on_trino(query):
                # Trino reports FINISHED once the last rows are buffered on the coordinator;
                # what is left to read is a few pages away.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(query.done.wait(), timeout=self.params.request_timeout_s)
            if query.error is not None or query.columns is None:
                return None
            complete = query.done.is_set() and query.next_uri is None
            return ResultPreview(
                columns=query.columns,
                rows=query.rows[:limit],
                row_count=query.row_count if complete else None,
            )
        info = await self.http.query_info(handle.id)
        if info is None or info.state != "FINISHED":
            return None
        return ResultPreview(
            columns=[ResultColumn(name=name, type="") for name in info.field_names],
            rows=[],
            row_count=info.query_stats.get("outputPositions"),
        )

    async def _ended_on_trino(self, query: TrackedQuery) -> bool:
        if query.state in DONE_STATES:
            return True
        info = await self.http.query_info(query.query_id)
        return info is None or info.state in DONE_STATES

    async def logs(self, handle: EngineHandle, offset: int = 0) -> LogChunk:
        """This process's progress log of the query, or a summary from ``/v1/query`` elsewhere."""
        query = self._tracked.get(handle.id)
        if query is not None:
            text = query.log
        else:
            info = await self.http.query_info(handle.id)
            text = summary_log(info) if info is not None else f"Trino does not know query {handle.id!r}\n"
        return LogChunk(text=text[offset:], offset=len(text))

    async def list_active(self) -> list[ActiveWork]:
        active = []
        for info in await self.http.queries():
            if info.state in DONE_STATES:
                continue
            tags = {}
            for tag in info.session.client_tags:
                key, _, value = tag.partition("=")
                tags[key] = value
            run_id = tags.get(RUN_TAG)
            if not run_id:
                continue
            tagged = tags.get(ATTEMPT_TAG, "")
            attempt = int(tagged) if tagged.isdigit() else None
            handle = self._handle(info.query_id, None, run_id, attempt)
            active.append(ActiveWork(handle=handle, run_id=run_id, attempt=attempt))
        return active

    # -- direct use -----------------------------------------------------------------------

    async def execute(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        limit: int = 1000,
        *,
        catalog: str | None = None,
        schema: str | None = None,
        session_properties: Mapping[str, str] | None = None,
    ) -> ResultPreview:
        """Run one statement to the end and return its first ``limit`` rows and row count.

        ``params`` fill the statement's ``:name`` placeholders. Raises
        :class:`QueryFailed` if Trino rejects or fails the statement.
        """
        try:
            spec = TrinoSqlSpec(
                sql=sql, catalog=catalog, schema=schema, session_properties=dict(session_properties or {})
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc), [{"field": "sql", "message": str(exc)}]) from None
        statement = bind_statement(sql, params or {})
        page = await self.http.start(statement, self._headers(spec, None, None))
        query = TrackedQuery(page, limit, self.options.progress_interval_s)
        try:
            await query.read_to_end(self.http)
        except asyncio.CancelledError:
            await asyncio.shield(self.http.kill(query.query_id))
            raise
        if query.failure is not None:
            raise query.failure
        if query.error is not None:
            raise query_failed(query.error, query.query_id)
        return ResultPreview(columns=query.columns or [], rows=query.rows, row_count=query.row_count)

    # -- helpers --------------------------------------------------------------------------

    def _headers(
        self, spec: TrinoSqlSpec, client_tags: str | None, timeout_s: float | None
    ) -> dict[str, str]:
        headers = {}
        catalog = spec.catalog or self.params.catalog
        schema = spec.schema or (self.params.schema if not spec.catalog else None)
        if schema and not catalog:
            raise ValidationFailed("a schema needs a catalog", [{"field": "catalog", "message": "missing"}])
        if catalog:
            headers["X-Trino-Catalog"] = catalog
        if schema:
            headers["X-Trino-Schema"] = schema
        properties = dict(spec.session_properties)
        if timeout_s is not None:
            # A backstop for when no worker is left to cancel: the worker's own deadline,
            # reached first, ends the run as timed out rather than as a Trino failure.
            limit_s = math.ceil(timeout_s) + TIMEOUT_GRACE_S
            properties.setdefault("query_max_run_time", f"{limit_s}s")
        if properties:
            headers["X-Trino-Session"] = ",".join(
                f"{name}={urllib.parse.quote(value, safe='')}" for name, value in properties.items()
            )
        if client_tags:
            headers["X-Trino-Client-Tags"] = client_tags
        return headers

    def _handle(self, query_id: str, info_uri: str | None, run_id: str, attempt: int | None) -> EngineHandle:
        base = self.http.base_url
        return EngineHandle(
            engine=self.name,
            id=query_id,
            data={
                "coordinator": base,
                "query_uri": f"{base}/v1/query/{query_id}",
                "info_uri": info_uri or f"{base}/ui/query.html?{query_id}",
                "run_id": run_id,
                "attempt": attempt,
            },
        )

    def _track(self, query: TrackedQuery) -> None:
        self._tracked[query.query_id] = query
        finished = [qid for qid, q in self._tracked.items() if q.done.is_set()]
        for query_id in finished[: max(0, len(finished) - self.options.retained_queries)]:
            del self._tracked[query_id]


def _decode_spec(spec: Any) -> TrinoSqlSpec:
    if isinstance(spec, TrinoSqlSpec):
        return spec
    try:
        return msgspec.convert(spec, TrinoSqlSpec)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(
            f"invalid trino_sql job: {exc}", [{"field": "spec", "message": str(exc)}]
        ) from None


def _client_tags(submission: Submission) -> str:
    tags = {**submission.tags, RUN_TAG: submission.run_id, ATTEMPT_TAG: str(submission.attempt)}
    for key, value in tags.items():
        if not (_TAG_PART.fullmatch(key) and _TAG_PART.fullmatch(value)):
            raise ValidationFailed(
                f"tag {key}={value!r} cannot be a Trino client tag: use letters, digits and _.:/@+-",
                [{"field": f"tags.{key}", "message": "invalid"}],
            )
    return ",".join(f"{key}={value}" for key, value in tags.items())


def _passed(name: str, started: float, message: str = "") -> Check:
    return Check(name=name, status=CheckStatus.OK, message=message, latency_ms=elapsed_ms(started))


def _failed(name: str, started: float, message: str) -> Check:
    return Check(name=name, status=CheckStatus.FAILED, message=message, latency_ms=elapsed_ms(started))
