"""The jars spark-submit needs, fetched once from Maven Central and checked.

Each jar is downloaded next to its published ``.sha1`` into ``~/.cache/lakeplane/jars``
and used only if the digest matches; a half-written or corrupt file is never left
under the final name, so concurrent submits and a crash mid-download are both safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import httpx

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
#: The Spark minor and Scala version of the pinned pyspark wheel (4.0.1).
SPARK_MINOR = "4.0"
SCALA = "2.13"
ICEBERG = "1.10.1"
#: The Hadoop of the pyspark wheel (``hadoop-client-api-3.4.1.jar``): hadoop-aws must match it.
HADOOP = "3.4.1"
#: The AWS SDK v2 inside ``iceberg-aws-bundle`` 1.10.1; S3A also needs its transfer manager.
AWS_SDK = "2.33.0"


class JarDownloadError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("LAKEPLANE_CACHE_DIR") or Path.home() / ".cache" / "lakeplane"
    return Path(base) / "jars"


#: What a job needs besides Spark itself: the Iceberg runtime (catalog, SQL extensions),
#: the AWS SDK bundle (Iceberg's S3FileIO), and S3A so jobs can read ``s3://`` files.
COORDINATES = (
    ("org.apache.iceberg", f"iceberg-spark-runtime-{SPARK_MINOR}_{SCALA}", ICEBERG),
    ("org.apache.iceberg", "iceberg-aws-bundle", ICEBERG),
    ("org.apache.hadoop", "hadoop-aws", HADOOP),
    ("software.amazon.awssdk", "s3-transfer-manager", AWS_SDK),
)


def coordinates() -> list[str]:
    """The jars as ``group:artifact:version``, for ``--packages`` on Kubernetes."""
    return [":".join(c) for c in COORDINATES]


def runtime_jars(repository: str = MAVEN_CENTRAL) -> list[Path]:
    """Local paths of every jar in :data:`COORDINATES`, downloaded and verified once."""
    return [maven_jar(g, a, v, repository) for g, a, v in COORDINATES]


def maven_jar(group: str, artifact: str, version: str, repository: str = MAVEN_CENTRAL) -> Path:
    """The local path of ``group:artifact:version``'s jar, downloading and verifying it once."""
    target = cache_dir() / f"{artifact}-{version}.jar"
    if target.exists():
        return target
    url = f"{repository}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with httpx.Client(timeout=httpx.Timeout(30.0, read=120.0), follow_redirects=True) as client:
            expected = client.get(f"{url}.sha1").raise_for_status().text.split()[0].strip().lower()
            digest = hashlib.sha1(usedforsecurity=False)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out, client.stream("GET", url) as response:
                    response.raise_for_status()
                    for chunk in response.iter_bytes(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != expected:
                    raise JarDownloadError(
                        f"{url}: sha1 {digest.hexdigest()} does not match the published {expected}"
                    )
                os.replace(tmp_name, target)
            finally:
                if os.path.exists(tmp_name):
                    os.unlink(tmp_name)
    except httpx.HTTPError as exc:
        raise JarDownloadError(f"could not download {url}: {exc}") from exc
    return target
