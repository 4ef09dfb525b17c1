"""A query this process reads results for, and how Trino's view of a query becomes a status.

Trino abandons a query whose client stops fetching ``nextUri`` (after
``query.client.timeout``, five minutes by default), so the process that submits a
query keeps reading it to the end in a background task. What it reads is kept
here: the first rows for the preview, the number of rows, the latest state and
stats, and a textual log of state changes, progress and errors.

While that reader is alive, its view is the freshest there is (Trino long-polls
it) and costs no request, so the submitting process answers ``status`` from it;
it reports success only once every row has been read. Any other process asks
``/v1/query`` (:func:`status_from_info`).
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from typing import Any

from lakeplane.errors import LakeplaneError
from lakeplane.interfaces import EngineState, EngineStatus, ResultColumn
from lakeplane_trino._protocol import DONE_STATES, Page, QueryInfo, TrinoError, TrinoHttp


class TrackedQuery:
    """Reads one query's pages in order and remembers what the engine reports from them."""

    def __init__(self, page: Page, preview_rows: int, progress_interval_s: float) -> None:
        self.query_id = page.id
        self.next_uri: str | None = page.next_uri
        self.columns: list[ResultColumn] | None = None
        self.rows: list[list[Any]] = []
        self.row_count = 0
        self.state = ""
        #: The ``stats`` of the latest page.
        self.stats: dict[str, Any] = {}
        #: The query's own failure, as Trino reported it.
        self.error: TrinoError | None = None
        #: Why reading stopped early, if it did (Trino unreachable, credentials refused).
        self.failure: LakeplaneError | None = None
        self.update_type: str | None = None
        self.update_count: int | None = None
        #: Set when reading stopped: the last page was read, reading failed or was stopped.
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.log = ""
        self._preview_rows = preview_rows
        self._progress_interval_s = progress_interval_s
        self._last_progress = time.monotonic()
        self.note(f"query {page.id} submitted")
        self.absorb(page)

    def note(self, message: str) -> None:
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.log += f"{stamp} {message}\n"

    def absorb(self, page: Page) -> None:
        self.next_uri = page.next_uri
        if page.columns is not None and self.columns is None:
            self.columns = [ResultColumn(name=c.name, type=c.type) for c in page.columns]
        if page.data:
            self.row_count += len(page.data)
            room = self._preview_rows - len(self.rows)
            if room > 0:
                self.rows.extend(page.data[:room])
        if page.update_type is not None:
            self.update_type, self.update_count = page.update_type, page.update_count
        self.stats = page.stats
        state = page.state
        if state and state != self.state:
            self.state = state
            self.note(f"{state}: {_progress(page.stats)}")
            self._last_progress = time.monotonic()
        elif state == "RUNNING" and time.monotonic() - self._last_progress >= self._progress_interval_s:
            self.note(f"progress: {_progress(page.stats)}")
            self._last_progress = time.monotonic()
        if page.error is not None and self.error is None:
            self.error = page.error
            self.note(f"failed: {page.error.error_name}: {page.error.message}")
        if page.next_uri is None:
            self.note(f"done reading results: {self.row_count} rows")

    @property
    def current(self) -> bool:
        """The reader is alive or has read to the end, so its view of the query is current."""
        return self.failure is None and (self.next_uri is None or not self.done.is_set())

    def status(self) -> EngineStatus:
        """The status as read; ``current`` must be true for it to mean anything."""
        stats = {
            "trino_state": self.state,
            "elapsed_s": self.stats.get("elapsedTimeMillis", 0) / 1000,
            "queued_s": self.stats.get("queuedTimeMillis", 0) / 1000,
            "cpu_s": self.stats.get("cpuTimeMillis", 0) / 1000,
            "processed_rows": self.stats.get("processedRows", 0),
            "processed_bytes": self.stats.get("processedBytes", 0),
            "output_rows": self.row_count,
            "peak_memory_bytes": self.stats.get("peakMemoryBytes", 0),
        }
        if "progressPercentage" in self.stats:
            stats["progress_pct"] = self.stats["progressPercentage"]
        if self.next_uri is not None:
            state = self.state if self.state not in DONE_STATES else "reading results"
            return engine_status(state, None, "", stats)
        if self.error is not None:
            return engine_status("FAILED", self.error.error_name, self.error.message, stats)
        return engine_status("FINISHED", None, "", stats)

    async def read_to_end(self, http: TrinoHttp) -> None:
        """Fetch every remaining page. Never raises except when cancelled."""
        try:
            while self.next_uri is not None:
                self.absorb(await http.fetch(self.next_uri))
        except asyncio.CancelledError:
            self.note("stopped reading results")
            raise
        except LakeplaneError as exc:
            self.failure = exc
            self.note(f"lost contact while reading results: {exc.detail}")
        finally:
            self.done.set()


def _progress(stats: dict[str, Any]) -> str:
    parts = [f"elapsed {stats.get('elapsedTimeMillis', 0) / 1000:.1f}s"]
    if stats.get("totalSplits"):
        parts.append(f"splits {stats.get('completedSplits', 0)}/{stats['totalSplits']}")
    parts.append(f"rows {stats.get('processedRows', 0)}")
    parts.append(f"bytes {stats.get('processedBytes', 0)}")
    return ", ".join(parts)


_DURATION = re.compile(r"\s*([0-9.]+)\s*(ns|us|ms|s|m|h|d)\s*")
_DURATION_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"\s*([0-9.]+)\s*(B|kB|MB|GB|TB|PB)\s*")
_SIZE_B = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}


def _seconds(value: Any) -> float | None:
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    return round(float(match[1]) * _DURATION_S[match[2]], 3) if match else None


def _bytes(value: Any) -> int | None:
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    return round(float(match[1]) * _SIZE_B[match[2]]) if match else None


def query_stats(info: QueryInfo) -> dict[str, Any]:
    """The figures of ``/v1/query`` worth showing next to a run, in seconds, rows and bytes."""
    stats = info.query_stats
    figures = {
        "trino_state": info.state,
        "elapsed_s": _seconds(stats.get("elapsedTime")),
        "queued_s": _seconds(stats.get("queuedTime")),
        "cpu_s": _seconds(stats.get("totalCpuTime")),
        "processed_rows": stats.get("processedInputPositions"),
        "processed_bytes": _bytes(stats.get("processedInputDataSize")),
        "output_rows": stats.get("outputPositions"),
        "peak_memory_bytes": _bytes(stats.get("peakUserMemoryReservation")),
        "progress_pct": stats.get("progressPercentage"),
    }
    return {name: value for name, value in figures.items() if value is not None}


_QUEUED_STATES = frozenset({"QUEUED", "WAITING_FOR_RESOURCES", "DISPATCHING"})


def engine_status(
    trino_state: str, error_name: str | None, message: str, stats: dict[str, Any]
) -> EngineStatus:
    """Trino's state of a query as an engine status: ``USER_CANCELED`` failures are cancellations."""
    if trino_state == "FINISHED":
        return EngineStatus(EngineState.SUCCEEDED, stats=stats)
    if trino_state == "FAILED":
        if error_name == "USER_CANCELED":
            return EngineStatus(EngineState.CANCELLED, message, stats)
        return EngineStatus(EngineState.FAILED, f"{error_name or 'FAILED'}: {message}", stats)
    if trino_state in _QUEUED_STATES:
        return EngineStatus(EngineState.QUEUED, trino_state, stats)
    return EngineStatus(EngineState.RUNNING, trino_state, stats)


def status_from_info(info: QueryInfo) -> EngineStatus:
    error_name = info.error_code.name if info.error_code else None
    return engine_status(info.state, error_name, info.error_message, query_stats(info))


def summary_log(info: QueryInfo) -> str:
    """A log built from ``/v1/query`` alone, for a query this process does not read.

    Lines only ever get appended as the query advances, so offsets stay valid.
    """
    stats = info.query_stats
    tags = ", ".join(info.session.client_tags)
    lines = [f"{stats.get('createTime', '')} query {info.query_id} created by {info.session.user} ({tags})"]
    if stats.get("executionStartTime"):
        lines.append(f"{stats['executionStartTime']} started executing")
    if info.state in DONE_STATES:
        figures = query_stats(info)
        outcome = f"failed: {info.error_code.name}: {info.error_message}" if info.error_code else "finished"
        lines.append(
            f"{stats.get('endTime', '')} {outcome}; elapsed {figures.get('elapsed_s', 0)}s, "
            f"rows read {figures.get('processed_rows', 0)}, rows out {figures.get('output_rows', 0)}"
        )
    return "".join(line + "\n" for line in lines)
