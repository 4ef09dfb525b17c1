"""Two real Iceberg REST catalogs for the session: SeaweedFS's, and Project Nessie's.

SeaweedFS is the core's ``seaweedfs_service`` fixture (:mod:`lakeplane.testing.services`,
a ``weed mini`` on free loopback ports). Nessie is its standalone runner jar from
Maven Central, checked against the published SHA-1 and cached in ``~/.cache/lakeplane``,
run with an in-memory version store and a warehouse in a SeaweedFS bucket. The jar needs
Java 21 or newer; without one, or without the jar, the Nessie tests skip and say why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pyarrow import fs as pafs

from lakeplane.local.ports import free_ports
from lakeplane.testing.services import SeaweedFSService
from lakeplane_iceberg_rest import IcebergRestParams

NESSIE_VERSION = "0.99.0"
NESSIE_JAR = f"nessie-quarkus-{NESSIE_VERSION}-runner.jar"
NESSIE_URL = (
    f"https://repo1.maven.org/maven2/org/projectnessie/nessie/nessie-quarkus/{NESSIE_VERSION}/{NESSIE_JAR}"
)
#: Nessie 0.99's classes are compiled for Java 21.
NESSIE_MIN_JAVA = 21
NESSIE_BUCKET = "nessie-warehouse"
CACHE = Path(os.environ.get("LAKEPLANE_CACHE", Path.home() / ".cache" / "lakeplane"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nessie: runs against a Nessie server (a JVM; slow to start)")


@pytest.fixture(scope="session")
def seaweedfs_catalog_params(seaweedfs_service: SeaweedFSService) -> IcebergRestParams:
    return IcebergRestParams(
        uri=seaweedfs_service.iceberg_uri,
        warehouse=seaweedfs_service.warehouse,
        credential=seaweedfs_service.credential,
        oauth2_server_uri=seaweedfs_service.oauth2_server_uri,
        s3_endpoint=seaweedfs_service.s3_endpoint,
        s3_access_key_id=seaweedfs_service.access_key_id,
        s3_secret_access_key=seaweedfs_service.secret_access_key,
        s3_region=seaweedfs_service.region,
    )


@dataclass
class Nessie:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def iceberg_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/iceberg"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="session")
def nessie(seaweedfs_service: SeaweedFSService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nessie]:
    java = find_java(NESSIE_MIN_JAVA)
    if java is None:
        pytest.skip(f"Nessie {NESSIE_VERSION} needs Java {NESSIE_MIN_JAVA}+; none found (set JAVA_HOME)")
    try:
        jar = fetch_verified(NESSIE_URL, CACHE / NESSIE_JAR)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        pytest.skip(f"cannot get {NESSIE_JAR} from Maven Central: {exc}")
    create_bucket(seaweedfs_service, NESSIE_BUCKET)
    server = start_nessie(java, jar, seaweedfs_service, tmp_path_factory.mktemp("nessie"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nessie_catalog_params(nessie: Nessie, seaweedfs_service: SeaweedFSService) -> IcebergRestParams:
    return IcebergRestParams(
        uri=nessie.iceberg_uri,
        warehouse="warehouse",
        s3_endpoint=seaweedfs_service.s3_endpoint,
        s3_access_key_id=seaweedfs_service.access_key_id,
        s3_secret_access_key=seaweedfs_service.secret_access_key,
        s3_region=seaweedfs_service.region,
    )


def create_bucket(store: SeaweedFSService, bucket: str) -> None:
    """Create ``bucket`` through the S3 API (pyarrow's client, already a dependency)."""
    scheme, _, address = store.s3_endpoint.partition("://")
    s3 = pafs.S3FileSystem(
        access_key=store.access_key_id,
        secret_key=store.secret_access_key,
        region=store.region,
        scheme=scheme,
        endpoint_override=address,
        allow_bucket_creation=True,
    )
    s3.create_dir(bucket)


def start_nessie(
    java: str, jar: Path, seaweedfs: SeaweedFSService, workdir: Path, timeout: float = 120.0
) -> Nessie:
    """Nessie on a free loopback port, its warehouse ``s3://nessie-warehouse/`` in SeaweedFS.

    Nessie writes table metadata itself, so it gets the S3 keys; they reach it as a
    Quarkus secret (``urn:nessie-secret:quarkus:<name>`` with ``<name>.name`` and
    ``<name>.secret``), which is how Nessie wants static keys given.
    """
    http_port, management_port = free_ports(2)
    props = {
        "quarkus.http.host": "127.0.0.1",
        "quarkus.http.port": http_port,
        "quarkus.management.host": "127.0.0.1",
        "quarkus.management.port": management_port,
        "quarkus.otel.sdk.disabled": "true",
        "nessie.version.store.type": "IN_MEMORY",
        "nessie.catalog.default-warehouse": "warehouse",
        "nessie.catalog.warehouses.warehouse.location": f"s3://{NESSIE_BUCKET}/",
        "nessie.catalog.service.s3.default-options.endpoint": seaweedfs.s3_endpoint + "/",
        "nessie.catalog.service.s3.default-options.path-style-access": "true",
        "nessie.catalog.service.s3.default-options.region": seaweedfs.region,
        "nessie.catalog.service.s3.default-options.access-key": "urn:nessie-secret:quarkus:lakeplane.s3",
        "lakeplane.s3.name": seaweedfs.access_key_id,
        "lakeplane.s3.secret": seaweedfs.secret_access_key,
    }
    # C1 only and the serial collector: Nessie starts in about half the CPU time, which
    # matters on a small, busy test machine; the tests do not run long enough for C2.
    jvm = ["-Xmx768m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    args = [java, *jvm, *(f"-D{k}={v}" for k, v in props.items()), "-jar", str(jar)]
    log_path = workdir / "nessie.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    server = Nessie(process, http_port, log_path)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if http.get(f"{server.iceberg_uri}/v1/config").status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    server.stop()
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    raise RuntimeError(f"Nessie did not start within {timeout:.0f}s:\n{tail}")


def fetch_verified(url: str, dest: Path) -> Path:
    """``dest``, downloaded from ``url`` if missing, checked against Maven Central's ``.sha1``."""
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True) as http:
        expected = http.get(url + ".sha1").raise_for_status().text.split()[0].strip().lower()
        if not dest.exists() or _sha1(dest) != expected:
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_suffix(dest.suffix + ".part")
            with http.stream("GET", url) as answer, partial.open("wb") as out:
                answer.raise_for_status()
                for chunk in answer.iter_bytes(1 << 20):
                    out.write(chunk)
            if _sha1(partial) != expected:
                partial.unlink()
                raise ValueError(f"{dest.name}: SHA-1 does not match the one Maven Central publishes")
            partial.replace(dest)
    return dest


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)  # what Maven Central publishes
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_java(min_major: int) -> str | None:
    """A ``java`` of at least ``min_major``: JAVA_HOME, then PATH, then /usr/lib/jvm."""
    candidates = []
    if home := os.environ.get("JAVA_HOME"):
        candidates.append(Path(home) / "bin" / "java")
    if on_path := shutil.which("java"):
        candidates.append(Path(on_path))
    candidates.extend(sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True))
    for candidate in candidates:
        if candidate.exists() and (_java_major(candidate) or 0) >= min_major:
            return str(candidate)
    return None


def _java_major(java: Path) -> int | None:
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', result.stderr.decode(errors="replace"))
    return int(match.group(1)) if match else None
