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
    async def list_buckets(self) -> list[str]:
        """The names of every bucket these credentials can see, sorted.

        Raises :class:`~lakeplane.errors.BadCredentials` when the service refuses them.
        """

    @abc.abstractmethod
    async def create_bucket(self, bucket: str) -> None:
        """Create ``bucket``; no error if it already exists and is ours.

        Raises :class:`~lakeplane.errors.Conflict` when another account holds the name.
        """

    @abc.abstractmethod
    async def delete_bucket(self, bucket: str) -> None:
        """Delete an empty ``bucket``.

        Raises :class:`~lakeplane.errors.ObjectNotFound` when it is missing and
        :class:`~lakeplane.errors.Conflict` when it still holds objects.
        """

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, fetched page by page.

        Raises :class:`~lakeplane.errors.ObjectNotFound` when the bucket is missing.
        """

    @abc.abstractmethod
    async def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        """Store ``data`` under ``key``, replacing any object there; returns what was stored.

        An async iterable is streamed without being held in memory. Raises
        :class:`~lakeplane.errors.ObjectNotFound` when the bucket is missing.
        """

    @abc.abstractmethod
    def get_object(self, bucket: str, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the object's bytes in chunks of at most ``chunk_size``.

        Raises :class:`~lakeplane.errors.ObjectNotFound` when the bucket or key is missing.
        """

    @abc.abstractmethod
    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """The object's size, ETag and modification time, without its bytes.

        Raises :class:`~lakeplane.errors.ObjectNotFound` when the bucket or key is missing.
        """

    @abc.abstractmethod
    async def delete_object(self, bucket: str, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error (as in S3)."""

    @abc.abstractmethod
    async def presigned_url(self, bucket: str, key: str, method: str = "GET", expires_in: int = 900) -> str:
        """A URL that allows ``method`` (GET or PUT) on the object for ``expires_in`` seconds
        without credentials. Signing needs no request, so a missing key is not detected here.

        Raises :class:`~lakeplane.errors.ValidationFailed` for another method.
        """

    async def read_all(self, bucket: str, key: str) -> bytes:
        """The whole object in memory: for small objects only."""
        return b"".join([chunk async for chunk in self.get_object(bucket, key)])
