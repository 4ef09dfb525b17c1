"""The parameters of a Spark connection: where jobs run, which catalog they see, what they may ask for.

One connection is one place to run Spark (``backend``) together with the Iceberg REST
catalog and S3 store its jobs write to. The catalog and S3 settings are *injected*
into every job's Spark conf; a job definition may not override them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from lakeplane.interfaces import Endpoint, Secret

#: A Spark memory size as spark-submit takes it: ``512m``, ``4g``.
MemorySize = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,6}[kKmMgGtT]$")]
#: The Spark catalog name jobs use in SQL (``lake.db.table``).
CatalogName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
K8sName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
#: A namespace prefix: the workspace slug is appended to it.
K8sPrefix = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][-a-z0-9]{0,30}$")]


class SparkParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A Spark connection. Secrets: the S3 secret key and the catalog's OAuth2 credential."""

    backend: Literal["local", "kubernetes"] = "local"

    # The Iceberg REST catalog, injected as spark.sql.catalog.<catalog_name>.*
    catalog_name: CatalogName = "lake"
    catalog_uri: Endpoint
    warehouse: str
    #: OAuth2 client credentials ``"client_id:client_secret"`` (SeaweedFS takes the S3 key pair).
    catalog_credential: Secret | None = None

    # The S3 store the table files live in, used through Iceberg's S3FileIO.
    s3_endpoint: Endpoint
    s3_access_key_id: str
    s3_secret_access_key: Secret
    s3_region: str = "us-east-1"
    s3_path_style_access: bool = True

    # What one job may ask for; checked at submit.
    max_driver_cores: int = 4
    max_driver_memory: MemorySize = "8g"
    max_executor_cores: int = 4
    max_executor_memory: MemorySize = "8g"
    max_executors: int = 8

    # local backend
    #: Where runs keep their logs and state; default ``~/.cache/lakeplane/spark/runs``.
    local_work_dir: str | None = None
    #: Cores for ``local[N]``; ``None`` means ``local[*]``.
    local_cores: int | None = None

    # kubernetes backend
    namespace_prefix: K8sPrefix = "lakeplane-ws-"
    image: str = "apache/spark:4.0.1-python3"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    service_account: K8sName = "spark-driver"
    #: ``auto`` uses a SparkApplication when the cluster has the Spark Operator's CRD.
    spark_operator: Literal["auto", "always", "never"] = "auto"
    #: A kubeconfig file; ``None`` means the in-cluster service account.
    kubeconfig: str | None = None
    kube_context: str | None = None
    spark_version: str = "4.0.1"
    #: Annotations on every driver pod (a service mesh's or autoscaler's opt-outs, say).
    driver_annotations: dict[str, str] = {}


class SparkOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Platform-wide settings of the ``spark`` engine, from ``[engines.<name>.options]``."""

    #: The Kubernetes namespaces the ``kubernetes`` backend works in: it starts drivers only
    #: in these (a connection uses those that begin with its ``namespace_prefix``) and looks
    #: only here for drivers still running, one namespace at a time. The Helm chart writes its
    #: ``spark.workspaceNamespaces`` here: the namespaces where it grants the control plane a Role.
    workspace_namespaces: list[K8sName] = []
    #: A finished driver pod (and what it owns) is deleted this long after it ended; the Spark
    #: Operator applies the same TTL to a SparkApplication.
    finished_ttl_s: Annotated[int, msgspec.Meta(ge=0)] = 3 * 24 * 3600
