"""The drivers of one namespace, kept current by a list and a watch that resumes.

One :class:`RunWatch` per namespace and kind (driver pods, or SparkApplications) lists the
Lakeplane objects once, then watches from the list's ``resourceVersion``. The API server
ends a watch after ``timeoutSeconds`` and a connection may drop at any time: either way the
watch is opened again from the last ``resourceVersion`` it saw (bookmarks included), so no
change is missed and nothing is listed again. Only a ``410 Gone`` (that version is no
longer kept) makes it list again. A status read is then a dictionary lookup: a run costs
the same few requests however long it takes.

The watch is read line by line from the raw response rather than through
``kubernetes_asyncio.watch.Watch``: the backend needs to know when a watch is open (to
tell a live cache from a stale one) and to handle ``410`` by listing, not by retrying
the same version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lakeplane.drivers.kubernetes import Request
from lakeplane.errors import LakeplaneError
from lakeplane_spark._errors import ResourceExpired, kubernetes_errors

log = logging.getLogger("lakeplane.spark")

#: The API server ends each watch after this long; it is opened again where it left off.
WATCH_TIMEOUT_S = 240
#: Between attempts to reach an API server that did not answer.
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0

Lister = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class WatchedKind:
    """How to list and watch one kind of main object, and its run's name in each object."""

    resource: str
    lister: Callable[[client.ApiClient], Lister]
    label_selector: str
    #: Positional arguments around the namespace: group and version, plural (custom objects).
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    #: Removed from an object's name to give its run's name (``-driver``).
    suffix: str = ""

    def key(self, obj: dict[str, Any]) -> str:
        return str(obj["metadata"]["name"]).removesuffix(self.suffix)

    def args(self, namespace: str) -> tuple[str, ...]:
        return (*self.before, namespace, *self.after)


class RunWatch:
    def __init__(self, api: client.ApiClient, namespace: str, kind: WatchedKind) -> None:
        self.api, self.namespace, self.kind = api, namespace, kind
        #: Run name -> the main object as the API server last described it (camelCase dict).
        self.objects: dict[str, dict[str, Any]] = {}
        self.resource_version: str | None = None
        #: Set once listed; cleared while the API server cannot be reached.
        self.live = asyncio.Event()
        self.failure: LakeplaneError | None = None
        #: List and watch requests made so far.
        self.requests = 0
        self.relists = 0
        self._waiters: dict[str, list[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._response: Any = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch {self.kind.resource} {self.namespace}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def get(self, name: str) -> dict[str, Any] | None:
        """The object of run ``name`` if the watch is live and has seen it."""
        return self.objects.get(name) if self.live.is_set() else None

    def put(self, obj: dict[str, Any]) -> None:
        """Record an object this process just created, before its event arrives."""
        self.objects.setdefault(self.kind.key(obj), obj)

    async def changed(self, name: str, seconds: float) -> None:
        """Return when run ``name``'s object changes, or after ``seconds``."""
        event = asyncio.Event()
        self._waiters.setdefault(name, []).append(event)
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(name, [])
            if event in waiting:
                waiting.remove(event)

    def drop_connection(self) -> None:
        """Close the open watch connection, as a network fault would (the watch resumes)."""
        if self._response is not None:
            self._response.close()

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                delay = RETRY_MIN_S
            except ResourceExpired:
                log.info("watch of %s in %s expired; listing again", self.kind.resource, self.namespace)
                self.resource_version = None
            except LakeplaneError as exc:
                self.failure = exc
                self.live.clear()
                log.warning("watch of %s in %s: %s", self.kind.resource, self.namespace, exc.detail)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception as exc:  # a malformed answer must not end the watch for good
                self.live.clear()
                log.warning("watch of %s in %s failed: %r", self.kind.resource, self.namespace, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def _list(self) -> None:
        self.requests += 1
        self.relists += 1
        with kubernetes_errors(Request("list", self.kind.resource, self.namespace)):
            listed = await self.kind.lister(self.api)(
                *self.kind.args(self.namespace), label_selector=self.kind.label_selector
            )
        body = listed if isinstance(listed, dict) else self.api.sanitize_for_serialization(listed)
        self.objects = {self.kind.key(o): o for o in body.get("items") or []}
        self.resource_version = body["metadata"]["resourceVersion"]
        self._connected()
        self._notify(None)

    async def _watch(self) -> None:
        request = Request("watch", self.kind.resource, self.namespace)
        self.requests += 1
        with kubernetes_errors(request):
            response = await self.kind.lister(self.api)(
                *self.kind.args(self.namespace),
                label_selector=self.kind.label_selector,
                watch=True,
                allow_watch_bookmarks=True,
                resource_version=self.resource_version,
                timeout_seconds=WATCH_TIMEOUT_S,
                _preload_content=False,
                _request_timeout=(10, WATCH_TIMEOUT_S + 30),
            )
            if not 200 <= response.status <= 299:  # unread content: the client did not check
                exc = ApiException(status=response.status, reason=response.reason)
                exc.body = await response.read()
                response.release()
                raise kubernetes_errors.answered(exc, request)
            self._response = response
            self._connected()
            try:
                async for line in response.content:
                    if line.strip():
                        self._apply(json.loads(line), request)
            finally:
                self._response = None
                response.release()

    def _apply(self, event: dict[str, Any], request: Request) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            status = int(obj.get("code") or 500)
            exc = ApiException(status=status, reason=str(obj.get("reason") or ""))
            exc.body = json.dumps(obj).encode()
            raise kubernetes_errors.answered(exc, request)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            return
        name = self.kind.key(obj)
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        self._notify(name)

    def _connected(self) -> None:
        self.failure = None
        self.live.set()

    def _notify(self, name: str | None) -> None:
        names = list(self._waiters) if name is None else [name]
        for each in names:
            for event in self._waiters.pop(each, []):
                event.set()
