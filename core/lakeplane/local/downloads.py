"""The artifacts the local stack runs, pinned (:mod:`lakeplane.drivers.maven` fetches them), and
how an unpacked one is put in place."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from lakeplane.drivers.maven import MavenArtifact

#: The newest Trino whose server tarball and Iceberg plugin Maven Central serves here.
#: Trino 476 needs Java 24.0.1 or newer.
TRINO_VERSION = "476"
TRINO_JAVA_VERSION = (24, 0, 1)
TRINO_SERVER = MavenArtifact(
    "io.trino", "trino-server-core", TRINO_VERSION, "tar.gz", sha1="6bae2db438f8e6a2a8d9c8b566bb5e5b05870138"
)
TRINO_ICEBERG = MavenArtifact(
    "io.trino", "trino-iceberg", TRINO_VERSION, "zip", sha1="6a9841be7b21c71110a1efc3a98e5dd833b20a8e"
)


#: Keycloak, the identity provider the OIDC tests and ``lakeplane local up --keycloak`` run.
KEYCLOAK_VERSION = "26.7.3"
KEYCLOAK_JAVA_VERSION = (21,)
KEYCLOAK_DIST = MavenArtifact(
    "org.keycloak",
    "keycloak-quarkus-dist",
    KEYCLOAK_VERSION,
    "zip",
    sha1="1e21a7f572581692aacb379dbba8413f99b67208",
)


def install_atomically(target: Path, marker: str, unpack: Callable[[Path], Path]) -> None:
    """Unpack into a temporary directory beside ``target`` and rename the tree ``unpack``
    returns into place, so a half-unpacked copy is never used; when two processes race, the
    first rename wins (``marker`` under ``target`` shows it) and the other's copy is dropped."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        root = unpack(staging)
        try:
            root.rename(target)
        except OSError:
            if not (target / marker).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
