"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from lakeplane.client import _api
from lakeplane.client._core import (
    OPENAPI,
    Call,
    RetryPolicy,
    ServerInfo,
    auth_headers,
    check_server,
    fields,
    outcome,
    unreachable,
)
from lakeplane.db.pagination import Page
from lakeplane.domain.auth.schemas import MeOut
from lakeplane.domain.connections.schemas import ConnectionOut, TestResult
from lakeplane.domain.datasets.schemas import DatasetDetail, DatasetOut
from lakeplane.domain.jobs.schemas import JobOut, JobVersionOut
from lakeplane.domain.runs.schemas import ResultOut, RunLogOut, RunOut
from lakeplane.domain.schedules.schemas import ScheduleOut
from lakeplane.domain.workspaces.schemas import WorkspaceOut

T = TypeVar("T")


class Client:
    """A Lakeplane API client. ``token`` is an API token (``lp_...``); see :meth:`login`.

    Use it as a context manager, or call :meth:`close`. Lists are iterators that fetch
    the next page as they go; ``page_size`` is the ``limit`` of each request.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self._http = httpx.Client(
            base_url=base_url, headers=auth_headers(token), timeout=timeout, transport=transport
        )
        self.workspaces = Workspaces(self)
        self.connections = Connections(self)
        self.jobs = Jobs(self)
        self.runs = Runs(self)
        self.datasets = Datasets(self)
        self.schedules = Schedules(self)

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, call: Call[T]) -> T:
        """Send ``call``, retrying as :attr:`retry` allows; raise the problem as its error class."""
        attempt = 0
        while True:
            request = call.request(self._http)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                wait = self.retry.wait_after_failure(call, attempt)
                if wait is None:
                    raise unreachable(self._http.base_url, exc) from exc
            else:
                wait = self.retry.wait_for(call, response, attempt)
                if wait is None:
                    return outcome(call, response)
            attempt += 1
            time.sleep(wait)

    def pages(self, make: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = self.call(make(cursor))
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def server(self) -> ServerInfo:
        """The server's name and version; raises IncompatibleServer unless it is a Lakeplane
        API this client speaks."""
        try:
            response = self._http.send(OPENAPI.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self._http.base_url, exc) from exc
        return check_server(response)

    def me(self) -> MeOut:
        return self.call(_api.me())

    def login(self, username: str, password: str, *, name: str = "lakeplane cli", days: int = 90) -> str:
        """Exchange a password for a new API token, use it from now on, and return it."""
        session = self.call(_api.login(username, password))
        try:
            created = self.call(_api.create_token(name, session.csrf_token, days, []))
        finally:
            self.call(_api.logout(session.csrf_token))
            self._http.cookies.clear()
        self._http.headers["authorization"] = f"Bearer {created.token}"
        return created.token


class _Resource:
    def __init__(self, client: Client) -> None:
        self._c = client


class Workspaces(_Resource):
    def list(self) -> Iterator[WorkspaceOut]:
        return self._c.pages(lambda cursor: _api.list_workspaces(cursor, self._c.page_size))

    def get(self, ws: str) -> WorkspaceOut:
        return self._c.call(_api.get_workspace(ws))

    def create(self, slug: str, name: str, description: str = "") -> WorkspaceOut:
        return self._c.call(_api.create_workspace(fields(slug=slug, name=name, description=description)))

    def update(self, ws: str, **changes: Any) -> WorkspaceOut:
        """``changes``: name, description."""
        return self._c.call(_api.update_workspace(ws, changes))


class Connections(_Resource):
    def list(self, ws: str, *, role: str | None = None, plugin: str | None = None) -> Iterator[ConnectionOut]:
        size = self._c.page_size
        return self._c.pages(lambda c: _api.list_connections(ws, c, size, role=role, plugin=plugin))

    def get(self, ws: str, conn_id: str) -> ConnectionOut:
        return self._c.call(_api.get_connection(ws, conn_id))

    def create(
        self,
        ws: str,
        name: str,
        role: str,
        plugin: str,
        params: dict[str, Any] | None = None,
        description: str = "",
    ) -> ConnectionOut:
        body = fields(name=name, role=role, plugin=plugin, params=params or {}, description=description)
        return self._c.call(_api.create_connection(ws, body))

    def update(self, ws: str, conn_id: str, **changes: Any) -> ConnectionOut:
        return self._c.call(_api.update_connection(ws, conn_id, changes))

    def delete(self, ws: str, conn_id: str) -> None:
        self._c.call(_api.delete_connection(ws, conn_id))

    def test(self, ws: str, conn_id: str) -> TestResult:
        return self._c.call(_api.test_connection(ws, conn_id))


class Jobs(_Resource):
    def list(self, ws: str, *, include_archived: bool = False) -> Iterator[JobOut]:
        size = self._c.page_size
        return self._c.pages(lambda c: _api.list_jobs(ws, c, size, include_archived))

    def get(self, ws: str, job_id: str) -> JobOut:
        return self._c.call(_api.get_job(ws, job_id))

    def create(self, ws: str, name: str, type: str, definition: dict[str, Any], **settings: Any) -> JobOut:
        """``settings``: the other fields of ``JobCreate`` (parameters, connection_id, queue, ...)."""
        body = {"name": name, "type": type, "definition": definition, **settings}
        return self._c.call(_api.create_job(ws, body))

    def update(self, ws: str, job_id: str, **changes: Any) -> JobOut:
        return self._c.call(_api.update_job(ws, job_id, changes))

    def versions(self, ws: str, job_id: str) -> Iterator[JobVersionOut]:
        size = self._c.page_size
        return self._c.pages(lambda c: _api.list_versions(ws, job_id, c, size))

    def version(self, ws: str, job_id: str, version: int) -> JobVersionOut:
        return self._c.call(_api.get_version(ws, job_id, version))


class Runs(_Resource):
    def submit(
        self,
        ws: str,
        job_id: str,
        parameters: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> RunOut:
        """Queue a run. Every submit carries an ``Idempotency-Key`` (a new one unless given),
        so a retried request returns the run the first one made."""
        return self._c.call(_api.submit_run(ws, job_id, parameters or {}, idempotency_key))

    def list(
        self,
        ws: str,
        *,
        state: str | None = None,
        job_id: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
    ) -> Iterator[RunOut]:
        size = self._c.page_size
        filters = {
            "state": state,
            "job_id": job_id,
            "created_after": created_after,
            "created_before": created_before,
        }
        return self._c.pages(lambda c: _api.list_runs(ws, c, size, **filters))

    def get(self, ws: str, run_id: str) -> RunOut:
        return self._c.call(_api.get_run(ws, run_id))

    def stop(self, ws: str, run_id: str) -> RunOut:
        return self._c.call(_api.stop_run(ws, run_id))

    def rerun(self, ws: str, run_id: str, parameters: dict[str, Any] | None = None) -> RunOut:
        return self._c.call(_api.rerun(ws, run_id, parameters or {}))

    def logs(self, ws: str, run_id: str, offset: int = 0) -> RunLogOut:
        return self._c.call(_api.run_logs(ws, run_id, offset))

    def follow_logs(self, ws: str, run_id: str, *, poll: float = 1.0) -> Iterator[str]:
        """Log text as it arrives, until the run is over and its whole log has been read."""
        offset, seen, source = 0, 0, None
        while True:
            chunk = self.logs(ws, run_id, offset)
            if source == "database" and chunk.source != source:
                # The ended run's stored copy counts bytes, not line ids: read on from what was shown.
                chunk = self.logs(ws, run_id, seen)
            source = chunk.source
            if chunk.text:
                seen += len(chunk.text.encode())
                yield chunk.text
            if chunk.complete:
                return
            offset = chunk.offset
            if not chunk.text:
                time.sleep(poll)

    def result(self, ws: str, run_id: str) -> ResultOut:
        return self._c.call(_api.run_result(ws, run_id))

    def wait(
        self,
        ws: str,
        run_id: str,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[RunOut], None] | None = None,
    ) -> RunOut:
        """Poll until the run is terminal and return it; ``on_update`` sees every poll.
        Raises TimeoutError after ``timeout`` seconds (the run goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get(ws, run_id)
            if on_update is not None:
                on_update(run)
            if run.state in _api.TERMINAL:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} is still {run.state} after {timeout} s")
            time.sleep(poll)


class Datasets(_Resource):
    def list(
        self, ws: str, *, tag: str | None = None, owner: str | None = None, q: str | None = None
    ) -> Iterator[DatasetOut]:
        size = self._c.page_size
        return self._c.pages(lambda c: _api.list_datasets(ws, c, size, tag=tag, owner=owner, q=q))

    def get(self, ws: str, dataset_id: str) -> DatasetDetail:
        return self._c.call(_api.get_dataset(ws, dataset_id))

    def create(self, ws: str, name: str, owner: str, **settings: Any) -> DatasetOut:
        """``settings``: location, or connection_id with namespace and table; tags, description."""
        return self._c.call(_api.create_dataset(ws, {"name": name, "owner": owner, **settings}))

    def update(self, ws: str, dataset_id: str, **changes: Any) -> DatasetOut:
        return self._c.call(_api.update_dataset(ws, dataset_id, changes))

    def delete(self, ws: str, dataset_id: str) -> None:
        self._c.call(_api.delete_dataset(ws, dataset_id))


class Schedules(_Resource):
    def list(self, ws: str, *, job_id: str | None = None) -> Iterator[ScheduleOut]:
        size = self._c.page_size
        return self._c.pages(lambda c: _api.list_schedules(ws, c, size, job_id))

    def get(self, ws: str, schedule_id: str) -> _api.ScheduleDetail:
        return self._c.call(_api.get_schedule(ws, schedule_id))

    def create(self, ws: str, job_id: str, cron: str, **settings: Any) -> ScheduleOut:
        """``settings``: timezone, parameters, misfire_policy, paused."""
        return self._c.call(_api.create_schedule(ws, {"job_id": job_id, "cron": cron, **settings}))

    def update(self, ws: str, schedule_id: str, **changes: Any) -> ScheduleOut:
        return self._c.call(_api.update_schedule(ws, schedule_id, changes))

    def pause(self, ws: str, schedule_id: str) -> ScheduleOut:
        return self._c.call(_api.pause_schedule(ws, schedule_id, True))

    def resume(self, ws: str, schedule_id: str) -> ScheduleOut:
        return self._c.call(_api.pause_schedule(ws, schedule_id, False))

    def delete(self, ws: str, schedule_id: str) -> None:
        self._c.call(_api.delete_schedule(ws, schedule_id))
