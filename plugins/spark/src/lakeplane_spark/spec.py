"""A Spark batch job definition and its checks.

Checks that need nothing but the definition run when it is decoded (msgspec
constraints and ``__post_init__``); the checks against a connection (its resource
limits, the conf keys it injects) run at submit in :func:`check_against`. Both end
in :class:`~lakeplane.errors.ValidationFailed` with one entry per offending field.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from lakeplane.errors import EndpointRefused, ValidationFailed
from lakeplane.security.endpoints import endpoint_guard
from lakeplane_spark.params import MemorySize, SparkParams

#: ``s3://bucket/key.py`` (fetched through the object store) or ``local:///path.py``
#: (a file on the machine or in the image the driver runs on).
Application = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s]+|local:///[^\s]+)\.py$",
        max_length=1024,
    ),
]
#: Maven coordinates ``group:artifact:version``.
Package = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_.+-]+$")]
Arg = Annotated[str, msgspec.Meta(max_length=4096, pattern=r"^[^\x00]*$")]

#: Spark conf keys a job may set: ``spark.`` then dotted lower/camel-case words.
CONF_KEY = re.compile(r"spark(\.[A-Za-z0-9_-]+)+")
#: Keys the platform owns. A job setting them could point the run at another
#: catalog, leak or replace credentials, or escape its resource limits.
RESERVED_PREFIXES = (
    "spark.master",
    "spark.submit.",
    "spark.driver.cores",
    "spark.driver.memory",
    "spark.executor.cores",
    "spark.executor.memory",
    "spark.executor.instances",
    "spark.dynamicAllocation.",
    "spark.jars",
    "spark.kubernetes.",
    "spark.sql.extensions",
    "spark.redaction.",
    "spark.hadoop.fs.s3",
    "spark.executorEnv.",
    "spark.driverEnv.",
    "spark.yarn.appMasterEnv.",
)
MAX_CONF_VALUE = 4096


class Resources(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    driver_cores: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    driver_memory: MemorySize = "1g"
    executor_cores: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    executor_memory: MemorySize = "1g"
    #: Executors on Kubernetes; the local backend runs one JVM with ``local[*]``.
    executor_instances: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1


class SparkBatchSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The definition of a ``spark_batch`` job."""

    application: Application
    args: list[Arg] = []
    #: Extra Spark conf; checked by :func:`check_conf`.
    conf: dict[str, str] = {}
    resources: Resources = msgspec.field(default_factory=Resources)
    #: Maven packages resolved by spark-submit ``--packages`` at start.
    packages: list[Package] = []

    def __post_init__(self) -> None:
        errors = check_conf(self.conf)
        if errors:
            # msgspec reports this as a ValidationError of the whole definition.
            raise ValueError("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def check_conf(conf: dict[str, str], catalog_name: str | None = None) -> list[dict[str, str]]:
    """Field errors for conf keys that are malformed or belong to the platform."""
    errors = []
    for key, value in conf.items():
        field = f"conf.{key}"
        if not CONF_KEY.fullmatch(key) or len(key) > 200:
            errors.append({"field": field, "message": "not a Spark conf key (expected spark.<name>...)"})
        elif key.startswith(RESERVED_PREFIXES) or _is_catalog_key(key, catalog_name):
            errors.append({"field": field, "message": "set by the platform; a job may not override it"})
        elif len(value) > MAX_CONF_VALUE or "\n" in value or "\x00" in value:
            errors.append({"field": field, "message": "value too long or contains control characters"})
        elif (refused := refused_url(field, value)) is not None:
            errors.append({"field": field, "message": refused})
    return errors


#: A URL in a conf value, JDBC URLs (``jdbc:postgresql://host/db``) included.
URL_VALUE = re.compile(r"^(?:jdbc:)?[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#;]*)")


def refused_url(field: str, value: str) -> str | None:
    """Why the endpoint guard refuses the host of a URL-valued conf entry, if it does.

    Spark's JVM makes these connections itself, so the address is checked as written;
    the NetworkPolicy of the worker pods covers what a name resolves to later.
    """
    found = URL_VALUE.match(value.strip())
    if found is None or not found.group(1):
        return None
    try:
        endpoint_guard().check_host(field, found.group(1), resolve=False)
    except EndpointRefused as exc:
        return exc.detail
    return None


def _is_catalog_key(key: str, catalog_name: str | None) -> bool:
    """Every setting of the injected catalog, and credentials of any catalog.

    Credentials belong in a connection (encrypted), never in a job definition.
    """
    if not key.startswith("spark.sql.catalog."):
        return False
    if catalog_name is not None and (
        key == f"spark.sql.catalog.{catalog_name}" or key.startswith(f"spark.sql.catalog.{catalog_name}.")
    ):
        return True
    return any(word in key.lower() for word in ("secret", "credential", "token", "access-key", "password"))


def memory_bytes(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    return int(size[:-1]) * units[size[-1].lower()]


def _amount(value: int | str) -> int:
    """A count as it is, a size such as ``"4g"`` in bytes."""
    return memory_bytes(value) if isinstance(value, str) else value


def check_against(spec: SparkBatchSpec, params: SparkParams) -> None:
    """Raise :class:`ValidationFailed` if ``spec`` asks for more than the connection allows."""
    errors = check_conf(spec.conf, params.catalog_name)
    r = spec.resources
    # Each resource: what the job asks for, and the most the connection allows.
    limits: dict[str, tuple[int | str, int | str]] = {
        "driver_cores": (r.driver_cores, params.max_driver_cores),
        "driver_memory": (r.driver_memory, params.max_driver_memory),
        "executor_cores": (r.executor_cores, params.max_executor_cores),
        "executor_memory": (r.executor_memory, params.max_executor_memory),
        "executor_instances": (r.executor_instances, params.max_executors),
    }
    errors += [
        {"field": f"resources.{name}", "message": f"at most {allowed} on this connection"}
        for name, (asked, allowed) in limits.items()
        if _amount(asked) > _amount(allowed)
    ]
    if errors:
        summary = ", ".join(e["field"] for e in errors)
        raise ValidationFailed(f"invalid Spark job: {summary}", errors)


def decode_spec(raw: object) -> SparkBatchSpec:
    """A :class:`SparkBatchSpec` from a decoded definition, or :class:`ValidationFailed`."""
    if isinstance(raw, SparkBatchSpec):
        return raw
    try:
        return msgspec.convert(raw, SparkBatchSpec)
    except msgspec.ValidationError as exc:
        message = str(exc)
        conf = raw.get("conf") if isinstance(raw, dict) else None
        errors = (
            check_conf(conf)
            if isinstance(conf, dict) and all(isinstance(v, str) for v in conf.values())
            else []
        )
        if not errors:
            path = message.rsplit("at `$.", 1)[-1].rstrip("`") if "at `$." in message else "definition"
            errors = [{"field": path, "message": message}]
        raise ValidationFailed(f"invalid Spark job: {message}", errors) from None
