"""Real PostgreSQL, SeaweedFS and Trino for tests, once per session, as a pytest plugin.

The same component classes as ``lakeplane local up`` (:mod:`lakeplane.local`) run the
services, in a temporary directory of their own and on loopback ports picked free at
run time, so a test session never collides with a stack already running on the machine
or with another session. Each service starts on first use and stops at the end of the
session. Trino takes tens of seconds to start: as soon as collection shows a test that
needs it (the ``trino_service`` fixture or the ``trino`` marker), it starts in the
background while the other tests run. The Trino download is shared with the stack
through the download cache.

Fixtures (session scope):

``postgres_service``
    :class:`PostgresService`: ``url`` (SQLAlchemy, asyncpg driver, superuser, database
    ``postgres``), ``dsn``, ``host``, ``port``, ``user``, ``password``; ``stop()`` and
    ``start()`` keep the data and the port.
``seaweedfs_service``
    :class:`SeaweedFSService`: S3 ``s3_endpoint``, ``access_key_id``,
    ``secret_access_key``, ``region``, ``bucket``; Iceberg ``iceberg_uri``,
    ``warehouse``, ``credential``, ``oauth2_server_uri``.
``trino_service``
    :class:`TrinoService`: ``host``, ``port``, ``url``, ``catalog`` (``"iceberg"``, on the
    session's SeaweedFS), ``user``.
``keycloak_service``
    :class:`~lakeplane.testing.keycloak.KeycloakService` (see :mod:`lakeplane.testing.keycloak`),
    started in the background like Trino.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lakeplane.drivers.maven import DownloadFailed
from lakeplane.local.component import Component
from lakeplane.local.errors import LocalStackError
from lakeplane.local.ports import LOOPBACK, free_ports
from lakeplane.local.postgres import PostgresComponent
from lakeplane.local.seaweedfs import SeaweedFSComponent, free_seaweedfs_ports
from lakeplane.local.trino import CATALOG, TrinoComponent

__all__ = [
    "PostgresService",
    "SeaweedFSService",
    "TrinoService",
    "postgres_service",
    "pytest_collection_finish",
    "pytest_sessionfinish",
    "seaweedfs_service",
    "trino_service",
]

T = TypeVar("T")

#: A port picked free may be taken before the service binds it: start again on new ports.
START_ATTEMPTS = 2


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


@dataclass(frozen=True)
class PostgresService:
    url: str
    dsn: str
    host: str
    port: int
    user: str
    password: str
    component: PostgresComponent = field(repr=False)

    def stop(self) -> None:
        """Stop the server (fast shutdown); blocking, and fine to call from an async test."""
        run_blocking(self.component.stop)

    def start(self) -> None:
        """Start it again on the same port with the same data; returns once ``SELECT 1`` works."""
        run_blocking(self.component.start)

    def url_for(self, database: str) -> str:
        return self.component.url(database)


@dataclass(frozen=True)
class SeaweedFSService:
    s3_endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str
    iceberg_uri: str
    warehouse: str
    credential: str
    oauth2_server_uri: str
    component: SeaweedFSComponent = field(repr=False)

    def pyiceberg_properties(self) -> dict[str, str]:
        """The properties of a pyiceberg REST catalog on its Iceberg catalog and S3."""
        return {
            "uri": self.iceberg_uri,
            "warehouse": self.warehouse,
            "credential": self.credential,
            "s3.endpoint": self.s3_endpoint,
            "s3.access-key-id": self.access_key_id,
            "s3.secret-access-key": self.secret_access_key,
            "s3.region": self.region,
        }

    def s3_options(self) -> dict[str, Any]:
        """The options of an ``s3`` object store (``[object_store.options]``) on its bucket."""
        return {
            "endpoint_url": self.s3_endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "bucket": self.bucket,
        }


@dataclass(frozen=True)
class TrinoService:
    host: str
    port: int
    url: str
    catalog: str
    user: str
    component: TrinoComponent = field(repr=False)


class _Services:
    """The session's services: each started once, in a worker thread, and stopped at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="lakeplane-services")
        self._futures: dict[str, Future[Any]] = {}
        self._started: list[Component] = []
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="lakeplane-services-"))
        return self._root

    def begin(self, name: str) -> Future[Any]:
        """Start ``name`` in the background unless already started; the future holds its service."""
        starters = {
            "postgres": self._postgres,
            "seaweedfs": self._seaweedfs,
            "trino": self._trino,
            "keycloak": self._keycloak,
        }
        with self._lock:
            if name not in self._futures:
                self._futures[name] = self._pool.submit(starters[name])
            return self._futures[name]

    def get(self, name: str) -> Any:
        return self.begin(name).result()

    def close(self) -> None:
        with self._lock:
            started, self._started = list(reversed(self._started)), []
            self._futures.clear()
        for component in started:
            with contextlib.suppress(Exception):
                asyncio.run(component.stop())
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def _start(self, make: Callable[[int], Component]) -> Component:
        """Start a component, on fresh ports once more if the first attempt fails.

        It is listed as started before it is healthy, so that a session ending meanwhile
        still stops it.
        """
        for attempt in range(START_ATTEMPTS):
            component = make(attempt)
            with self._lock:
                self._started.append(component)
            try:
                asyncio.run(component.start())
            except (LocalStackError, DownloadFailed):
                asyncio.run(component.stop())
                with self._lock, contextlib.suppress(ValueError):
                    self._started.remove(component)
                if attempt + 1 == START_ATTEMPTS:
                    raise
                continue
            return component
        raise AssertionError("unreachable")

    def _postgres(self) -> PostgresService:
        password = secrets.token_urlsafe(16)

        def make(attempt: int) -> Component:
            (port,) = free_ports(1)
            return PostgresComponent(
                self.root / f"postgres-{attempt}", port=port, password=password, durable=False
            )

        component = self._start(make)
        assert isinstance(component, PostgresComponent)
        return PostgresService(
            url=component.url("postgres"),
            dsn=component.dsn("postgres"),
            host=LOOPBACK,
            port=component.port,
            user=component.user,
            password=password,
            component=component,
        )

    def _seaweedfs(self) -> SeaweedFSService:
        access_key_id, secret_access_key = "lp" + secrets.token_hex(6), secrets.token_urlsafe(24)

        def make(attempt: int) -> Component:
            return SeaweedFSComponent(
                self.root / f"seaweedfs-{attempt}",
                ports=free_seaweedfs_ports(),
                access_key_id=access_key_id,
                secret_access_key=secret_access_key,
            )

        component = self._start(make)
        assert isinstance(component, SeaweedFSComponent)
        return SeaweedFSService(
            s3_endpoint=component.s3_endpoint,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=component.region,
            bucket=component.bucket,
            iceberg_uri=component.iceberg_uri,
            warehouse=component.warehouse,
            credential=component.credential,
            oauth2_server_uri=component.oauth2_server_uri,
            component=component,
        )

    def _trino(self) -> TrinoService:
        store: SeaweedFSService = self.get("seaweedfs")

        def make(attempt: int) -> Component:
            (port,) = free_ports(1)
            return TrinoComponent(self.root / f"trino-{attempt}", port=port, lake=store)

        component = self._start(make)
        assert isinstance(component, TrinoComponent)
        return TrinoService(
            host=LOOPBACK,
            port=component.port,
            url=component.url,
            catalog=CATALOG,
            user="lakeplane",
            component=component,
        )

    def _keycloak(self) -> Any:
        from lakeplane.local.keycloak import KeycloakComponent
        from lakeplane.testing.keycloak import KeycloakService, start_keycloak

        component = self._start(lambda attempt: start_keycloak(self.root, attempt))
        assert isinstance(component, KeycloakComponent)
        return KeycloakService(
            url=component.url, admin_password=component.admin_password, component=component
        )


_services = _Services()
atexit.register(_services.close)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start Trino and Keycloak in the background now if any selected test will need them."""
    if session.config.option.collectonly:
        return
    for name in ("trino", "keycloak"):
        if name == "keycloak" and os.environ.get("LAKEPLANE_TEST_KEYCLOAK_URL"):
            continue
        for item in session.items:
            if f"{name}_service" in getattr(item, "fixturenames", ()) or item.get_closest_marker(name):
                _services.begin(name)
                break


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _services.close()


@contextlib.contextmanager
def running() -> Iterator[_Services]:
    """The same services outside pytest (benchmarks): ``with running() as s: s.get("seaweedfs")``;
    everything started is stopped on exit."""
    started = _Services()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="session")
def postgres_service() -> PostgresService:
    service: PostgresService = _services.get("postgres")
    return service


@pytest.fixture(scope="session")
def seaweedfs_service() -> SeaweedFSService:
    service: SeaweedFSService = _services.get("seaweedfs")
    return service


@pytest.fixture(scope="session")
def trino_service(seaweedfs_service: SeaweedFSService) -> TrinoService:
    service: TrinoService = _services.get("trino")
    return service
