"""The Spark conf Lakeplane injects into every job: the Iceberg REST catalog and S3 access."""

from __future__ import annotations

from lakeplane.security.endpoints import endpoint_guard
from lakeplane_spark.params import SparkParams

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
#: Spark's default redaction pattern, plus the Iceberg catalog's ``credential``.
REDACTION_REGEX = "(?i)secret|password|token|access[.]?key|credential"


def catalog_conf(params: SparkParams) -> dict[str, str]:
    # The endpoints given to Spark, checked as written each time a job is started.
    guard = endpoint_guard()
    guard.check("params.catalog_uri", params.catalog_uri, resolve=False)
    guard.check("params.s3_endpoint", params.s3_endpoint, resolve=False)
    conf = _catalog_conf(params)
    if params.catalog_credential:
        prefix = f"spark.sql.catalog.{params.catalog_name}"
        conf[f"{prefix}.rest.auth.type"] = "oauth2"
        conf[f"{prefix}.oauth2-server-uri"] = f"{params.catalog_uri.rstrip('/')}/v1/oauth/tokens"
    return conf


def _catalog_conf(params: SparkParams) -> dict[str, str]:
    """Catalog and S3 settings without any secret value.

    Table files go through Iceberg's S3FileIO; other files a job reads (raw CSV)
    through Hadoop's S3A, which also serves the ``s3://`` scheme here.
    """
    prefix = f"spark.sql.catalog.{params.catalog_name}"
    return {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": params.s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": params.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": "true" if params.s3_path_style_access else "false",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(params.s3_endpoint.startswith("https")).lower(),
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.redaction.regex": REDACTION_REGEX,
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "rest",
        f"{prefix}.uri": params.catalog_uri,
        f"{prefix}.warehouse": params.warehouse,
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.s3.endpoint": params.s3_endpoint,
        f"{prefix}.s3.path-style-access": "true" if params.s3_path_style_access else "false",
        f"{prefix}.client.region": params.s3_region,
    }


def secret_conf(params: SparkParams) -> dict[str, str]:
    """The conf entries that carry secrets, with their values."""
    prefix = f"spark.sql.catalog.{params.catalog_name}"
    conf = {
        "spark.hadoop.fs.s3a.access.key": params.s3_access_key_id,
        "spark.hadoop.fs.s3a.secret.key": params.s3_secret_access_key,
        f"{prefix}.s3.access-key-id": params.s3_access_key_id,
        f"{prefix}.s3.secret-access-key": params.s3_secret_access_key,
    }
    if params.catalog_credential:
        conf[f"{prefix}.credential"] = params.catalog_credential
    return conf


def secret_values(params: SparkParams) -> list[str]:
    """Every value a log must never show."""
    values = [params.s3_secret_access_key]
    if params.catalog_credential:
        values.append(params.catalog_credential)
        values.extend(params.catalog_credential.split(":", 1)[1:])
    return values
