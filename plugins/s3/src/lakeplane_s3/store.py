"""``S3ObjectStore``: buckets and objects on any S3 API, through aiobotocore.

Written against the S3 API rather than AWS: the endpoint, region and addressing style
are parameters, and the client never sends the optional integrity checksums newer
botocore adds by default (``aws-chunked`` trailers), which several S3-compatible
services reject. Large streams are uploaded in parts so memory stays bounded by one
part, whatever the object's size.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from contextlib import AsyncExitStack, suppress
from typing import Annotated, Any, ClassVar

import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from lakeplane.errors import BadCredentials, LakeplaneError, ObjectNotFound, ValidationFailed
from lakeplane.interfaces import Check, CheckResult, CheckStatus, Endpoint, ObjectInfo, ObjectStore, Secret
from lakeplane.security.connect_aiohttp import GuardedResolver
from lakeplane.security.endpoints import endpoint_guard
from lakeplane.timeutil import elapsed_ms
from lakeplane_s3._errors import ErrorContext, map_errors

MiB = 1 << 20
#: S3's smallest part except the last; a smaller ``part_size`` would be refused mid-upload.
MIN_PART_SIZE = 5 * MiB
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


class S3Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How to reach one S3 service. ``bucket`` is the default bucket that ``validate`` checks."""

    endpoint_url: Endpoint | None = None
    region: str = "us-east-1"
    access_key_id: str
    secret_access_key: Secret
    path_style: bool = True
    verify_tls: bool = True
    bucket: str | None = None


class S3Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Platform-wide client settings, from the config file's ``object_store.options``."""

    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    read_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    #: Attempts per request, the first included; botocore's "standard" retry mode.
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    #: Streams longer than this go up as a multipart upload in parts of this size.
    part_size: Annotated[int, msgspec.Meta(ge=MIN_PART_SIZE, le=5 * 1024 * MiB)] = 8 * MiB


class S3ObjectStore(ObjectStore):
    """Any S3-compatible object store: AWS, SeaweedFS, MinIO, Ceph RGW, Garage."""

    name: ClassVar[str] = "s3"
    description: ClassVar[str] = "S3-compatible object storage (aiobotocore)"
    Params: ClassVar[type[msgspec.Struct]] = S3Params
    Options: ClassVar[type[msgspec.Struct]] = S3Options

    params: S3Params
    options: S3Options

    def __init__(self, params: S3Params, options: S3Options | None = None) -> None:
        super().__init__(params, options)
        self._stack: AsyncExitStack | None = None
        self._s3: Any = None
        self._ctx = ErrorContext(
            endpoint=params.endpoint_url or f"AWS S3 ({params.region})",
            access_key_id=params.access_key_id,
            secrets=(params.secret_access_key,),
        )

    async def open(self) -> None:
        """Create the client. No request is made: an unreachable service fails on first use."""
        if self._stack is not None:
            return
        p, o = self.params, self.options
        # aiohttp skips its resolver for a literal address: that one is checked here.
        if p.endpoint_url:
            endpoint_guard().check("params.endpoint_url", p.endpoint_url, resolve=False)
        config = AioConfig(
            connector_args={"resolver": GuardedResolver()},
            region_name=p.region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if p.path_style else "virtual"},
            connect_timeout=o.connect_timeout_s,
            read_timeout=o.read_timeout_s,
            retries={"max_attempts": o.max_attempts, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        self._s3 = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=p.endpoint_url,
                region_name=p.region,
                aws_access_key_id=p.access_key_id,
                aws_secret_access_key=p.secret_access_key,
                verify=p.verify_tls,
                config=config,
            )
        )
        self._stack = stack

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._s3 = self._stack, None, None
            await stack.aclose()

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            raise RuntimeError("S3ObjectStore is not open: use `async with S3ObjectStore(...)`")
        return self._s3

    # -- checks -----------------------------------------------------------------------

    async def health(self) -> CheckResult:
        """One cheap request: a HEAD on the default bucket, else the bucket listing."""
        started = time.perf_counter()
        bucket = self.params.bucket
        probe = self._head_bucket(bucket) if bucket else self.list_buckets()
        check = await _timed("object_store", probe)
        return CheckResult.of([check], started)

    async def validate(self) -> CheckResult:
        """Endpoint reachable, credentials accepted, default bucket present: one request.

        With a default bucket the request is a HEAD on it rather than ListBuckets, since
        keys scoped to one bucket are often not allowed to list every bucket.
        """
        started = time.perf_counter()
        bucket = self.params.bucket
        t0 = time.perf_counter()
        error: LakeplaneError | None = None
        try:
            if bucket:
                await self._head_bucket(bucket)
            else:
                await self.list_buckets()
        except LakeplaneError as exc:
            error = exc
        ms = elapsed_ms(t0)
        ok, failed = CheckStatus.OK, CheckStatus.FAILED
        if error is None:
            checks = [Check("endpoint", ok, latency_ms=ms), Check("credentials", ok)]
            if bucket:
                checks.append(Check("bucket", ok, f"bucket {bucket!r} exists"))
        elif isinstance(error, BadCredentials):
            checks = [Check("endpoint", ok, latency_ms=ms), Check("credentials", failed, error.detail)]
        elif isinstance(error, ObjectNotFound):
            checks = [
                Check("endpoint", ok, latency_ms=ms),
                Check("credentials", ok),
                Check("bucket", failed, error.detail),
            ]
        else:
            checks = [Check("endpoint", failed, error.detail, latency_ms=ms)]
        return CheckResult.of(checks, started)

    # -- buckets ----------------------------------------------------------------------

    async def list_buckets(self) -> list[str]:
        with map_errors(self._ctx):
            answer = await self._client.list_buckets()
        return sorted(b["Name"] for b in answer.get("Buckets", []))

    async def create_bucket(self, bucket: str) -> None:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        # us-east-1 is the one region S3 wants without a location constraint.
        if self.params.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.params.region}
        try:
            with map_errors(self._ctx, bucket):
                await self._client.create_bucket(**kwargs)
        except LakeplaneError as exc:
            if exc.extra.get("code") == "BucketAlreadyOwnedByYou":
                return
            raise

    async def delete_bucket(self, bucket: str) -> None:
        with map_errors(self._ctx, bucket):
            await self._client.delete_bucket(Bucket=bucket)

    async def _head_bucket(self, bucket: str) -> None:
        with map_errors(self._ctx, bucket):
            await self._client.head_bucket(Bucket=bucket)

    # -- objects ----------------------------------------------------------------------

    async def list_objects(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        with map_errors(self._ctx, bucket):
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        bucket=bucket,
                        key=item["Key"],
                        size=item["Size"],
                        etag=_etag(item.get("ETag")),
                        last_modified=item.get("LastModified"),
                    )

    async def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            with map_errors(self._ctx, bucket, key):
                answer = await self._client.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type
                )
            return ObjectInfo(bucket=bucket, key=key, size=len(body), etag=_etag(answer.get("ETag")))
        return await self._put_stream(bucket, key, data, content_type)

    async def _put_stream(
        self, bucket: str, key: str, data: AsyncIterable[bytes], content_type: str
    ) -> ObjectInfo:
        """One PUT if the stream ends within a part; else a multipart upload, aborted on failure."""
        part_size = self.options.part_size
        chunks = aiter(data)
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
            if len(buffer) >= part_size:
                break
        else:
            return await self.put_object(bucket, key, bytes(buffer), content_type)

        with map_errors(self._ctx, bucket, key):
            upload = await self._client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type
            )
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            with map_errors(self._ctx, bucket, key):

                async def send(body: bytes) -> None:
                    number = len(parts) + 1
                    answer = await self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                    )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})

                await send(bytes(buffer))
                size += len(buffer)
                buffer.clear()
                async for chunk in chunks:
                    buffer += chunk
                    if len(buffer) >= part_size:
                        await send(bytes(buffer))
                        size += len(buffer)
                        buffer.clear()
                if buffer:
                    await send(bytes(buffer))
                    size += len(buffer)
                answer = await self._client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            # Parts of an abandoned upload are stored (and billed) until aborted.
            with suppress(Exception):
                await self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
        return ObjectInfo(bucket=bucket, key=key, size=size, etag=_etag(answer.get("ETag")))

    async def get_object(self, bucket: str, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        with map_errors(self._ctx, bucket, key):
            answer = await self._client.get_object(Bucket=bucket, Key=key)
            body = answer["Body"]
            try:
                async for chunk in body.iter_chunks(chunk_size):
                    yield chunk
            finally:
                body.close()

    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        with map_errors(self._ctx, bucket, key):
            answer = await self._client.head_object(Bucket=bucket, Key=key)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=answer["ContentLength"],
            etag=_etag(answer.get("ETag")),
            last_modified=answer.get("LastModified"),
        )

    async def delete_object(self, bucket: str, key: str) -> None:
        with map_errors(self._ctx, bucket, key):
            await self._client.delete_object(Bucket=bucket, Key=key)

    async def presigned_url(self, bucket: str, key: str, method: str = "GET", expires_in: int = 900) -> str:
        operations = {"GET": "get_object", "PUT": "put_object"}
        operation = operations.get(method.upper())
        if operation is None:
            raise ValidationFailed(f"presigned URLs allow GET or PUT, not {method!r}")
        if not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
            raise ValidationFailed(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
        with map_errors(self._ctx, bucket, key):
            url: str = await self._client.generate_presigned_url(
                operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )
        return url


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


async def _timed(name: str, probe: Awaitable[object]) -> Check:
    t0 = time.perf_counter()
    try:
        await probe
    except LakeplaneError as exc:
        return Check(name, CheckStatus.FAILED, exc.detail, latency_ms=elapsed_ms(t0))
    return Check(name, CheckStatus.OK, latency_ms=elapsed_ms(t0))
