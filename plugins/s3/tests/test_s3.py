"""What only the s3 plugin has: its parameters, validation steps, multipart uploads and error mapping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

from lakeplane.errors import BadCredentials, Conflict, ObjectNotFound, UpstreamError
from lakeplane.interfaces import CheckStatus, endpoint_fields, secret_fields
from lakeplane.testing.contracts import assert_no_secrets, assert_registered
from lakeplane_s3 import S3ObjectStore, S3Options, S3Params
from lakeplane_s3._errors import ErrorContext, translate

MiB = 1 << 20


def test_registered_through_the_entry_point() -> None:
    assert_registered(S3ObjectStore, "lakeplane-plugin-s3")


def test_params_decode_with_defaults_and_mark_secret_and_endpoint() -> None:
    params = msgspec.convert({"access_key_id": "AK", "secret_access_key": "SK"}, S3Params)
    assert (params.endpoint_url, params.region, params.path_style, params.verify_tls, params.bucket) == (
        None,
        "us-east-1",
        True,
        True,
        None,
    )
    assert secret_fields(S3Params) == {"secret_access_key"}
    assert endpoint_fields(S3Params) == {"endpoint_url"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"access_key_id": "AK"}, S3Params)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"access_key_id": "AK", "secret_access_key": "SK", "bukket": "x"}, S3Params)


def test_options_refuse_parts_smaller_than_s3_allows() -> None:
    assert msgspec.convert({}, S3Options).part_size == 8 * MiB
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"part_size": 1 * MiB}, S3Options)


async def test_using_a_closed_store_says_how_to_open_it(s3_params: S3Params) -> None:
    store = S3ObjectStore(s3_params)
    with pytest.raises(RuntimeError, match="async with"):
        await store.list_buckets()


async def test_validate_reports_each_step(s3_store: S3ObjectStore, s3_params: S3Params) -> None:
    bucket = f"lp-validate-{uuid.uuid4().hex[:8]}"
    await s3_store.create_bucket(bucket)
    try:
        async with S3ObjectStore(msgspec.structs.replace(s3_params, bucket=bucket)) as store:
            result = await store.validate()
        assert result.ok
        assert [(c.name, c.status) for c in result.checks] == [
            ("endpoint", CheckStatus.OK),
            ("credentials", CheckStatus.OK),
            ("bucket", CheckStatus.OK),
        ]
    finally:
        await s3_store.delete_bucket(bucket)


async def test_validate_names_a_missing_default_bucket(s3_params: S3Params) -> None:
    async with S3ObjectStore(msgspec.structs.replace(s3_params, bucket="lp-not-there")) as store:
        result = await store.validate()
        health = await store.health()
    assert not result.ok
    assert not health.ok
    statuses = {c.name: c.status for c in result.checks}
    assert statuses == {
        "endpoint": CheckStatus.OK,
        "credentials": CheckStatus.OK,
        "bucket": CheckStatus.FAILED,
    }
    assert "lp-not-there" in result.checks[-1].message


async def test_unknown_access_key_id_is_named_in_the_message(s3_params: S3Params) -> None:
    params = msgspec.structs.replace(s3_params, access_key_id="NOBODY", secret_access_key="nope-nope-nope")
    async with S3ObjectStore(params) as store:
        with pytest.raises(BadCredentials, match="NOBODY") as raised:
            await store.list_buckets()
        assert "access_key_id" in raised.value.detail
        assert_no_secrets(store, raised.value)
        result = await store.validate()
    assert [(c.name, c.status) for c in result.checks] == [
        ("endpoint", CheckStatus.OK),
        ("credentials", CheckStatus.FAILED),
    ]


async def test_wrong_secret_points_at_the_secret(s3_params: S3Params) -> None:
    params = msgspec.structs.replace(s3_params, secret_access_key="definitely-wrong-secret")
    async with S3ObjectStore(params) as store:
        with pytest.raises(BadCredentials, match="secret_access_key") as raised:
            await store.list_buckets()
        assert_no_secrets(store, raised.value)


async def test_a_region_other_than_us_east_1_signs_and_creates_buckets(s3_params: S3Params) -> None:
    """Outside us-east-1 a bucket is created with a location constraint; S3 services accept it."""
    params = msgspec.structs.replace(s3_params, region="eu-central-1")
    bucket = f"lp-region-{uuid.uuid4().hex[:8]}"
    async with S3ObjectStore(params) as store:
        await store.create_bucket(bucket)
        try:
            await store.put_object(bucket, "k", b"v")
            assert await store.read_all(bucket, "k") == b"v"
            assert (await store.validate()).ok
        finally:
            await store.delete_object(bucket, "k")
            await store.delete_bucket(bucket)


async def _stream(total: int, chunk: int = MiB) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield bytes([sent % 251]) * size
        sent += size


async def test_large_streams_go_up_in_parts(s3_store: S3ObjectStore) -> None:
    bucket = f"lp-multipart-{uuid.uuid4().hex[:8]}"
    await s3_store.create_bucket(bucket)
    try:
        info = await s3_store.put_object(bucket, "parts", _stream(11 * MiB))
        # An S3 multipart ETag is "<md5 of the part md5s>-<number of parts>".
        assert info.etag.endswith("-2")
        assert info.size == 11 * MiB
        assert (await s3_store.head_object(bucket, "parts")).size == 11 * MiB
    finally:
        async for obj in s3_store.list_objects(bucket):
            await s3_store.delete_object(bucket, obj.key)
        await s3_store.delete_bucket(bucket)


async def test_a_failing_stream_aborts_its_upload(s3_store: S3ObjectStore) -> None:
    bucket = f"lp-abort-{uuid.uuid4().hex[:8]}"
    await s3_store.create_bucket(bucket)

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (9 * MiB)
        raise OSError("the source went away")

    try:
        with pytest.raises(OSError, match="went away"):
            await s3_store.put_object(bucket, "broken", broken())
        uploads = await s3_store._client.list_multipart_uploads(Bucket=bucket)
        assert uploads.get("Uploads", []) == []
        with pytest.raises(ObjectNotFound):
            await s3_store.head_object(bucket, "broken")
    finally:
        await s3_store.delete_bucket(bucket)


# -- the mapping itself, on the exceptions botocore raises ----------------------------

CTX = ErrorContext(endpoint="http://s3.local:8333", access_key_id="AKID", secrets=("s3cr3t-value",))


def _answer(code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def test_missing_bucket_and_key_are_told_apart() -> None:
    assert "bucket 'b'" in translate(_answer("NoSuchBucket", status=404), CTX, "b", "k").detail
    missing_key = translate(_answer("NoSuchKey", status=404), CTX, "b", "k")
    assert isinstance(missing_key, ObjectNotFound)
    assert "object 'k'" in missing_key.detail
    # HEAD answers carry no body: a bare 404 means the bucket when no key was asked for.
    assert "bucket 'b'" in translate(_answer("404", status=404), CTX, "b").detail


def test_an_echoed_secret_is_scrubbed() -> None:
    error = translate(_answer("AccessDenied", "key s3cr3t-value is not allowed", 403), CTX, "b")
    assert isinstance(error, BadCredentials)
    assert "s3cr3t-value" not in error.detail
    assert "***" in error.detail


def test_other_answers_keep_code_and_message() -> None:
    error = translate(
        _answer("AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong; expecting 'eu-west-1'"), CTX
    )
    assert type(error) is UpstreamError
    assert "eu-west-1" in error.detail
    assert isinstance(translate(_answer("BucketNotEmpty", status=409), CTX, "b"), Conflict)


def test_transport_failures_say_what_to_check() -> None:
    unreachable = translate(EndpointConnectionError(endpoint_url="http://s3.local:8333"), CTX)
    assert type(unreachable) is UpstreamError
    assert "endpoint_url" in unreachable.detail
    tls = translate(SSLError(endpoint_url="https://s3.local", error="certificate verify failed"), CTX)
    assert "verify_tls" in tls.detail
