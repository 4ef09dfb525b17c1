"""The jars spark-submit needs besides Spark, pinned and fetched through the core's download cache.

:mod:`lakeplane.drivers.maven` downloads each once into ``~/.cache/lakeplane/maven``
and keeps it only if it matches the ``.sha1`` Maven Central publishes, which must in
turn match the digest pinned here.
"""

from __future__ import annotations

from pathlib import Path

from lakeplane.drivers.maven import MAVEN_CENTRAL, MavenArtifact, fetch

#: The Spark minor and Scala version of the pinned pyspark wheel (4.0.1).
SPARK_MINOR = "4.0"
SCALA = "2.13"
ICEBERG = "1.10.1"
#: The Hadoop of the pyspark wheel (``hadoop-client-api-3.4.1.jar``): hadoop-aws must match it.
HADOOP = "3.4.1"
#: The AWS SDK v2 inside ``iceberg-aws-bundle`` 1.10.1; S3A also needs its transfer manager.
AWS_SDK = "2.33.0"

#: The Iceberg runtime (catalog, SQL extensions), the AWS SDK bundle (Iceberg's S3FileIO),
#: and S3A with the one SDK module the bundle lacks, so jobs can read ``s3://`` files.
ARTIFACTS = (
    MavenArtifact(
        "org.apache.iceberg",
        f"iceberg-spark-runtime-{SPARK_MINOR}_{SCALA}",
        ICEBERG,
        "jar",
        sha1="aa296e2a410cac2270e4d4130de0e7bfde714e11",
    ),
    MavenArtifact(
        "org.apache.iceberg",
        "iceberg-aws-bundle",
        ICEBERG,
        "jar",
        sha1="9c02c851a2356f287f040ed784170c758369d134",
    ),
    MavenArtifact(
        "org.apache.hadoop", "hadoop-aws", HADOOP, "jar", sha1="641d8fe1d7683cdcc05cc3a794c0374553f6bd6a"
    ),
    MavenArtifact(
        "software.amazon.awssdk",
        "s3-transfer-manager",
        AWS_SDK,
        "jar",
        sha1="8b8ca5dea91b33644e3fe613e1e2e8eb8b17413d",
    ),
)


def coordinates() -> list[str]:
    """The jars as ``group:artifact:version``, for ``--packages`` on Kubernetes."""
    return [f"{a.group}:{a.artifact}:{a.version}" for a in ARTIFACTS]


def runtime_jars(repository: str = MAVEN_CENTRAL) -> list[Path]:
    """Local paths of every jar in :data:`ARTIFACTS`, downloaded and verified once.

    Raises :class:`~lakeplane.drivers.maven.DownloadFailed` (or its ``ChecksumMismatch``).
    """
    return [fetch(artifact, repository=repository, quiet=True) for artifact in ARTIFACTS]
