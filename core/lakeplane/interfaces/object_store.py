"""Object storage: buckets and objects on any S3-compatible service."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator
from typing import ClassVar

import msgspec

from lakeplane.interfaces.base import Component


class ObjectInfo(msgspec.Struct):
    bucket: str
    key: str
    size: int
    etag: str = ""
    last_modified: dt.datetime | None = None


class ObjectStore(Component):
    """A bucket-and-key store. Raises :class:`lakeplane.errors.ObjectNotFound` for a
    missing bucket or key and :class:`lakeplane.errors.BadCredentials` when refused."""

    kind: ClassVar[str] = "object_store"

    @abc.abstractmethod
    async def list_buckets(self) -> list[str]: ...

    @abc.abstractmethod
    async def create_bucket(self, bucket: str) -> None:
        """Create ``bucket``; no error if it already exists and is ours."""

    @abc.abstractmethod
    async def delete_bucket(self, bucket: str) -> None: ...

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, fetched page by page."""

    @abc.abstractmethod
    async def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        """Store ``data``; an async iterable is streamed without being held in memory."""

    @abc.abstractmethod
    def get_object(self, bucket: str, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the object's bytes."""

    @abc.abstractmethod
    async def head_object(self, bucket: str, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    async def delete_object(self, bucket: str, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error (as in S3)."""

    @abc.abstractmethod
    async def presigned_url(self, bucket: str, key: str, method: str = "GET", expires_in: int = 900) -> str:
        """A URL that allows ``method`` (GET or PUT) on the object without credentials."""

    async def read_all(self, bucket: str, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.get_object(bucket, key)])
