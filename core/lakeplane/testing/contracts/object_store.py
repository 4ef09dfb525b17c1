"""The contract every :class:`~lakeplane.interfaces.ObjectStore` keeps, run against a real service.

Subclass :class:`ObjectStoreContract` and provide three fixtures, each an *opened*
store on the session event loop:

``object_store``
    working parameters;
``object_store_bad_credentials``
    the same service, with a wrong secret;
``object_store_unreachable``
    an endpoint where nothing listens (see :func:`~lakeplane.testing.contracts.unreachable_url`).

``bucket`` (a fresh empty bucket, emptied and deleted afterwards) is provided here
through the interface itself; override it if the service cannot create buckets.

The tests aim where stores differ: streaming and multipart boundaries, listing order
when ``/`` competes with smaller characters, keys with odd characters, presigned URLs
used by a plain HTTP client, and errors a user has to act on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeplane.errors import BadCredentials, ObjectNotFound, ValidationFailed
from lakeplane.interfaces import ObjectStore
from lakeplane.testing.contracts._support import (
    assert_checks_fail,
    assert_checks_pass,
    assert_no_secrets,
    assert_unreachable,
)

MiB = 1 << 20

#: One path segment of an object key: any printable character of any script, including
#: spaces, ``%``, ``+``, ``?``, ``#``, ``&`` and emoji. Left out, each for its own test:
#: the separator ``/``, the backslash (some stores treat it as one), and the segments
#: ``.`` and ``..`` (which file-system-backed stores resolve).
_segment = st.text(
    st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in {".", ".."})
object_keys = st.lists(_segment, min_size=1, max_size=4).map("/".join)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


async def _keys(store: ObjectStore, bucket: str, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list_objects(bucket, prefix)]


async def _read(store: ObjectStore, bucket: str, key: str) -> bytes:
    return await store.read_all(bucket, key)


#: A contract test runs once per subclass, each with its own ``self`` ("differing
#: executors"), and its fixtures are set up once for all of a test's examples; each
#: example makes its own names, so neither matters here.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors, HealthCheck.too_slow]


class ObjectStoreContract:
    """Behaviour every object store plugin must show. See the module docstring for fixtures."""

    pytestmark: ClassVar = [pytest.mark.asyncio(loop_scope="session")]

    #: Size of the streamed object: above the 8 MiB that S3 clients commonly use as the
    #: multipart threshold, and not a multiple of any part size.
    stream_size: ClassVar[int] = 12 * MiB + 12_345
    #: An unreachable endpoint must fail within this many seconds, retries included.
    unreachable_within_s: ClassVar[float] = 15.0

    @pytest_asyncio.fixture(loop_scope="session")
    async def bucket(self, object_store: ObjectStore) -> AsyncIterator[str]:
        name = f"lp-contract-{uuid.uuid4().hex[:16]}"
        await object_store.create_bucket(name)
        yield name
        gate = asyncio.Semaphore(32)

        async def delete(key: str) -> None:
            async with gate:
                await object_store.delete_object(name, key)

        await asyncio.gather(*[delete(key) for key in await _keys(object_store, name)])
        await object_store.delete_bucket(name)

    # -- round trips -------------------------------------------------------------------

    async def test_put_then_get_returns_the_same_bytes(self, object_store: ObjectStore, bucket: str) -> None:
        data = os.urandom(70_000)
        info = await object_store.put_object(bucket, "dir/file.bin", data)
        assert (info.bucket, info.key, info.size) == (bucket, "dir/file.bin", len(data))
        assert await _read(object_store, bucket, "dir/file.bin") == data
        head = await object_store.head_object(bucket, "dir/file.bin")
        assert head.size == len(data)
        assert head.etag == info.etag
        assert head.last_modified is not None

    async def test_empty_object(self, object_store: ObjectStore, bucket: str) -> None:
        await object_store.put_object(bucket, "empty", b"")
        assert await _read(object_store, bucket, "empty") == b""
        assert (await object_store.head_object(bucket, "empty")).size == 0

    async def test_stream_of_many_megabytes_round_trips(self, object_store: ObjectStore, bucket: str) -> None:
        data = os.urandom(self.stream_size)
        info = await object_store.put_object(bucket, "big/stream.bin", _chunks(data, 256 * 1024))
        assert info.size == len(data)
        digest, total, chunk_size = hashlib.sha256(), 0, MiB
        async for chunk in object_store.get_object(bucket, "big/stream.bin", chunk_size=chunk_size):
            assert 0 < len(chunk) <= chunk_size
            digest.update(chunk)
            total += len(chunk)
        assert total == len(data)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert (await object_store.head_object(bucket, "big/stream.bin")).size == len(data)

    async def test_short_stream_round_trips(self, object_store: ObjectStore, bucket: str) -> None:
        data = b"x" * 1000
        info = await object_store.put_object(bucket, "small-stream", _chunks(data, 7))
        assert info.size == 1000
        assert await _read(object_store, bucket, "small-stream") == data

    async def test_empty_stream_makes_an_empty_object(self, object_store: ObjectStore, bucket: str) -> None:
        await object_store.put_object(bucket, "empty-stream", _chunks(b"", 10))
        assert (await object_store.head_object(bucket, "empty-stream")).size == 0

    async def test_get_streams_in_chunks_no_larger_than_asked(
        self, object_store: ObjectStore, bucket: str
    ) -> None:
        data = os.urandom(3 * MiB)
        await object_store.put_object(bucket, "chunks", data)
        chunks = [c async for c in object_store.get_object(bucket, "chunks", chunk_size=64 * 1024)]
        assert len(chunks) > 1
        assert all(len(c) <= 64 * 1024 for c in chunks)
        assert b"".join(chunks) == data

    async def test_put_overwrites(self, object_store: ObjectStore, bucket: str) -> None:
        await object_store.put_object(bucket, "k", b"first version, longer")
        await object_store.put_object(bucket, "k", b"second")
        assert await _read(object_store, bucket, "k") == b"second"
        assert (await object_store.head_object(bucket, "k")).size == len(b"second")
        assert await _keys(object_store, bucket) == ["k"]

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=_SUPPRESSED,
    )
    @given(key=object_keys)
    async def test_odd_keys_round_trip(self, object_store: ObjectStore, bucket: str, key: str) -> None:
        full_key = f"hyp-{uuid.uuid4().hex[:8]}/{key}"
        body = full_key.encode()
        await object_store.put_object(bucket, full_key, body)
        listed = await _keys(object_store, bucket, full_key)
        assert listed == [full_key]
        assert await _read(object_store, bucket, full_key) == body
        assert (await object_store.head_object(bucket, full_key)).size == len(body)
        await object_store.delete_object(bucket, full_key)
        assert await _keys(object_store, bucket, full_key) == []

    async def test_backslash_is_an_ordinary_character(self, object_store: ObjectStore, bucket: str) -> None:
        await object_store.put_object(bucket, "x\\y", b"backslash")
        await object_store.put_object(bucket, "x/y", b"slash")
        assert await _read(object_store, bucket, "x\\y") == b"backslash"
        assert await _read(object_store, bucket, "x/y") == b"slash"
        assert await _keys(object_store, bucket) == ["x/y", "x\\y"]

    # -- listing -----------------------------------------------------------------------

    async def test_listing_is_in_key_order_and_honours_prefixes(
        self, object_store: ObjectStore, bucket: str
    ) -> None:
        keys = ["b", "a/2", "a/1", "c/x/y", "a0", "B", "é", "z", "a/10", "日本/語"]
        for key in keys:
            await object_store.put_object(bucket, key, key.encode())
        assert await _keys(object_store, bucket) == sorted(keys)
        assert await _keys(object_store, bucket, "a/") == ["a/1", "a/10", "a/2"]
        assert await _keys(object_store, bucket, "a/1") == ["a/1", "a/10"]
        assert await _keys(object_store, bucket, "c/x/") == ["c/x/y"]
        assert await _keys(object_store, bucket, "nothing/") == []
        sizes = {info.key: info.size async for info in object_store.list_objects(bucket)}
        assert sizes == {key: len(key.encode()) for key in keys}

    async def test_listing_order_when_the_separator_competes(
        self, object_store: ObjectStore, bucket: str
    ) -> None:
        """S3 orders by UTF-8 bytes: ``"a b" < "a-c" < "a.d" < "a/b" < "a0"``."""
        keys = ["a/b", "a0", "a b", "a-c", "a.d"]
        for key in keys:
            await object_store.put_object(bucket, key, b".")
        assert await _keys(object_store, bucket) == ["a b", "a-c", "a.d", "a/b", "a0"]

    async def test_listing_crosses_pages(self, object_store: ObjectStore, bucket: str) -> None:
        """More objects than one S3 listing page (1000) holds."""
        keys = [f"many/{i:05d}" for i in range(1010)]
        gate = asyncio.Semaphore(32)

        async def put(key: str) -> None:
            async with gate:
                await object_store.put_object(bucket, key, b"")

        await asyncio.gather(*(put(key) for key in keys))
        assert await _keys(object_store, bucket, "many/") == keys

    # -- missing things and deletes ----------------------------------------------------

    async def test_missing_key_is_object_not_found(self, object_store: ObjectStore, bucket: str) -> None:
        with pytest.raises(ObjectNotFound) as raised:
            await _read(object_store, bucket, "no/such/key")
        assert "no/such/key" in raised.value.detail
        with pytest.raises(ObjectNotFound):
            await object_store.head_object(bucket, "no/such/key")

    async def test_missing_bucket_is_object_not_found(self, object_store: ObjectStore) -> None:
        missing = f"lp-missing-{uuid.uuid4().hex[:12]}"
        with pytest.raises(ObjectNotFound) as raised:
            await _keys(object_store, missing)
        assert missing in raised.value.detail
        with pytest.raises(ObjectNotFound):
            await _read(object_store, missing, "k")
        with pytest.raises(ObjectNotFound):
            await object_store.head_object(missing, "k")
        with pytest.raises(ObjectNotFound):
            await object_store.delete_bucket(missing)

    async def test_delete_object_is_idempotent(self, object_store: ObjectStore, bucket: str) -> None:
        await object_store.put_object(bucket, "gone", b"1")
        await object_store.delete_object(bucket, "gone")
        with pytest.raises(ObjectNotFound):
            await object_store.head_object(bucket, "gone")
        await object_store.delete_object(bucket, "gone")
        await object_store.delete_object(bucket, "never-existed")

    async def test_bucket_lifecycle(self, object_store: ObjectStore) -> None:
        name = f"lp-contract-{uuid.uuid4().hex[:16]}"
        await object_store.create_bucket(name)
        await object_store.create_bucket(name)  # already ours: no error
        assert name in await object_store.list_buckets()
        assert await _keys(object_store, name) == []
        await object_store.delete_bucket(name)
        assert name not in await object_store.list_buckets()

    # -- presigned URLs ----------------------------------------------------------------

    async def test_presigned_get_works_with_a_plain_http_client(
        self, object_store: ObjectStore, bucket: str
    ) -> None:
        key = "shared/report 2026 ü+%.csv"
        await object_store.put_object(bucket, key, b"a,b\n1,2\n", content_type="text/csv")
        url = await object_store.presigned_url(bucket, key, expires_in=60)
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
        assert answer.status_code == 200
        assert answer.content == b"a,b\n1,2\n"

    async def test_presigned_put_works_with_a_plain_http_client(
        self, object_store: ObjectStore, bucket: str
    ) -> None:
        url = await object_store.presigned_url(bucket, "uploads/u.bin", method="PUT", expires_in=60)
        async with httpx.AsyncClient() as http:
            answer = await http.put(url, content=b"uploaded")
        assert answer.status_code == 200
        assert await _read(object_store, bucket, "uploads/u.bin") == b"uploaded"

    async def test_presigned_url_with_a_wrong_signature_is_refused(
        self, object_store: ObjectStore, bucket: str
    ) -> None:
        await object_store.put_object(bucket, "private", b"secret contents")
        url = await object_store.presigned_url(bucket, "private", expires_in=60)
        async with httpx.AsyncClient() as http:
            for tampered in (_tamper(url, "X-Amz-Signature"), url.replace("/private?", "/privatf?")):
                answer = await http.get(tampered)
                assert answer.status_code == 403
                assert b"secret contents" not in answer.content

    async def test_presigned_url_expires(self, object_store: ObjectStore, bucket: str) -> None:
        await object_store.put_object(bucket, "short-lived", b"now you see me")
        url = await object_store.presigned_url(bucket, "short-lived", expires_in=1)
        # Signing times have one-second resolution: wait out the second and the expiry.
        await asyncio.sleep(2.5)
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
        assert answer.status_code == 403
        assert b"now you see me" not in answer.content

    async def test_presigned_url_arguments_are_checked(self, object_store: ObjectStore, bucket: str) -> None:
        with pytest.raises(ValidationFailed):
            await object_store.presigned_url(bucket, "k", method="DELETE")
        with pytest.raises(ValidationFailed):
            await object_store.presigned_url(bucket, "k", expires_in=0)

    # -- health, validation and failures ------------------------------------------------

    async def test_health_and_validate_pass(self, object_store: ObjectStore) -> None:
        await assert_checks_pass(object_store)

    async def test_wrong_credentials_are_bad_credentials_without_the_secret(
        self, object_store_bad_credentials: ObjectStore, object_store: ObjectStore, bucket: str
    ) -> None:
        store = object_store_bad_credentials
        await object_store.put_object(bucket, "k", b"v")
        attempts = (
            lambda: store.list_buckets(),
            lambda: _read(store, bucket, "k"),
            lambda: _keys(store, bucket),
        )
        for attempt in attempts:
            with pytest.raises(BadCredentials) as raised:
                await attempt()
            assert_no_secrets(store, raised.value)
        await assert_checks_fail(store)

    async def test_unreachable_endpoint_is_upstream_error_quickly(
        self, object_store_unreachable: ObjectStore
    ) -> None:
        store = object_store_unreachable
        await assert_unreachable(store, store.list_buckets, self.unreachable_within_s)


def _tamper(url: str, parameter: str) -> str:
    """``url`` with the last character of query ``parameter`` changed."""
    parts = urlsplit(url)
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == parameter:
            value = value[:-1] + ("0" if value[-1:] != "0" else "1")
        query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))
