"""Run logs in the platform object store, so they outlive workers, pods and the database rows.

The platform store is the config's ``object_store`` plugin; its ``options`` table
also carries the connection parameters and the ``bucket`` logs go to. Each run has
one object, ``runs/<workspace>/<run>/log.txt``, rewritten at the end of every
attempt with everything logged so far; its SHA-256 is kept on the run so a
tampered or truncated copy can be told apart.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

import msgspec

from lakeplane.errors import ConfigError
from lakeplane.interfaces import ObjectStore
from lakeplane.runtime import Services

SCHEME = "lakeplane-store://"


def log_key(workspace_id: str, run_id: str) -> str:
    return f"runs/{workspace_id}/{run_id}/log.txt"


def bucket(lp: Services) -> str:
    name = lp.config.object_store.options.get("bucket")
    if not isinstance(name, str) or not name:
        raise ConfigError("object_store.options.bucket", "is needed to keep run logs")
    return name


@contextlib.asynccontextmanager
async def platform_store(lp: Services) -> AsyncIterator[ObjectStore]:
    selected = lp.selection.object_store
    params_type = selected.impl.cls.Params
    options = lp.config.object_store.options
    raw = {k: v for k, v in options.items() if k in params_type.__struct_fields__}
    try:
        params = msgspec.convert(raw, params_type)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            "object_store.options", f"not usable as {selected.impl.name} parameters: {exc}"
        ) from None
    async with selected.create(params) as store:
        assert isinstance(store, ObjectStore)
        yield store


async def upload(lp: Services, workspace_id: str, run_id: str, data: bytes) -> tuple[str, str]:
    """Store ``data`` as the run's log; return its URI and SHA-256."""
    key = log_key(workspace_id, run_id)
    name = bucket(lp)
    async with platform_store(lp) as store:
        await store.put_object(name, key, data, content_type="text/plain; charset=utf-8")
    return f"{SCHEME}{name}/{key}", hashlib.sha256(data).hexdigest()


async def download(lp: Services, uri: str) -> bytes:
    if not uri.startswith(SCHEME):
        raise ConfigError("log_uri", f"unknown log location {uri!r}")
    name, _, key = uri[len(SCHEME) :].partition("/")
    async with platform_store(lp) as store:
        return await store.read_all(name, key)
