"""The four interfaces every plugin implements one or more of."""

from lakeplane.interfaces.auth import AuthProvider, CredentialStore, Identity, StoredCredential
from lakeplane.interfaces.base import (
    Check,
    CheckResult,
    CheckStatus,
    Component,
    Endpoint,
    NoOptions,
    Secret,
    endpoint_fields,
    secret_fields,
)
from lakeplane.interfaces.catalog import (
    Catalog,
    NewField,
    PartitionField,
    SchemaField,
    Snapshot,
    TableIdent,
    TableInfo,
)
from lakeplane.interfaces.engine import (
    ActiveWork,
    Engine,
    EngineHandle,
    EngineState,
    EngineStatus,
    LogChunk,
    ResultColumn,
    ResultPreview,
    Submission,
)
from lakeplane.interfaces.object_store import ObjectInfo, ObjectStore

__all__ = [
    "ActiveWork",
    "AuthProvider",
    "Catalog",
    "Check",
    "CheckResult",
    "CheckStatus",
    "Component",
    "CredentialStore",
    "Endpoint",
    "Engine",
    "EngineHandle",
    "EngineState",
    "EngineStatus",
    "Identity",
    "LogChunk",
    "NewField",
    "NoOptions",
    "ObjectInfo",
    "ObjectStore",
    "PartitionField",
    "ResultColumn",
    "ResultPreview",
    "SchemaField",
    "Secret",
    "Snapshot",
    "StoredCredential",
    "Submission",
    "TableIdent",
    "TableInfo",
    "endpoint_fields",
    "secret_fields",
]
