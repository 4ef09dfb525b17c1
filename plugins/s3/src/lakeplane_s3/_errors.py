"""Every botocore and aiohttp exception becomes a Lakeplane error here, and only here.

    botocore / aiohttp                              Lakeplane
    NoSuchKey, 404 on an object                     ObjectNotFound
    NoSuchBucket, 404 on a bucket                   ObjectNotFound
    InvalidAccessKeyId, SignatureDoesNotMatch,
    AccessDenied, 403, ExpiredToken, InvalidToken   BadCredentials
    BucketAlreadyExists, BucketNotEmpty, …          Conflict
    InvalidBucketName, ParamValidationError         ValidationFailed
    EndpointConnectionError, timeouts, aiohttp      UpstreamError ("cannot reach ...")
    SSLError                                        UpstreamError (TLS advice)
    any other error answer                          UpstreamError (code and message)

Messages name the endpoint, bucket, key and access key id, which is what a user needs to
fix the connection, and never a secret: :meth:`ErrorContext.scrub` removes the secret access
key from anything a server echoed back, should one ever do so.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import aiohttp
from botocore import exceptions as boto

from lakeplane.drivers.errors import ScrubbingContext, map_driver_errors
from lakeplane.errors import (
    BadCredentials,
    Conflict,
    LakeplaneError,
    ObjectNotFound,
    UpstreamError,
    ValidationFailed,
)

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "InvalidSecurity",
        "403",
        "Forbidden",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


_DRIVER_ERRORS = (boto.ClientError, boto.BotoCoreError, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class ErrorContext(ScrubbingContext):
    """What a message may name: where the store is and whose key was used."""

    endpoint: str
    access_key_id: str


def map_errors(
    ctx: ErrorContext, bucket: str | None = None, key: str | None = None
) -> AbstractContextManager[None]:
    """Turn a driver exception raised inside the block into the matching Lakeplane error."""
    return map_driver_errors(lambda exc: translate(exc, ctx, bucket, key), catching=_DRIVER_ERRORS)


def translate(
    exc: BaseException, ctx: ErrorContext, bucket: str | None = None, key: str | None = None
) -> LakeplaneError:
    """The Lakeplane error for ``exc``; ``bucket`` and ``key`` say what was being accessed."""
    if isinstance(exc, boto.ClientError):
        return _from_answer(exc, ctx, bucket, key)
    if isinstance(exc, boto.SSLError):
        return UpstreamError(
            ctx.scrub(
                f"TLS handshake with the object store at {ctx.endpoint} failed: {exc}. "
                "Install the CA that signed its certificate, or set verify_tls to false "
                "for a self-signed one"
            )
        )
    if isinstance(exc, boto.ParamValidationError):
        return ValidationFailed(ctx.scrub(f"invalid object store request: {exc}"))
    if isinstance(
        exc,
        boto.EndpointConnectionError
        | boto.ConnectTimeoutError
        | boto.ReadTimeoutError
        | boto.ConnectionClosedError
        | boto.ConnectionError
        | boto.HTTPClientError
        | aiohttp.ClientError
        | TimeoutError,
    ):
        return UpstreamError(
            ctx.scrub(
                f"cannot reach the object store at {ctx.endpoint} ({type(exc).__name__}): "
                "check endpoint_url and that the service is running"
            )
        )
    return UpstreamError(ctx.scrub(f"object store client error: {exc}"))


def _from_answer(
    exc: boto.ClientError, ctx: ErrorContext, bucket: str | None, key: str | None
) -> LakeplaneError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or code
    where = _where(bucket, key)
    if code == "NoSuchBucket" or (code in _MISSING_KEY_CODES and key is None and bucket is not None):
        return ObjectNotFound(f"bucket {bucket!r} does not exist at {ctx.endpoint}", bucket=bucket)
    if code in _MISSING_KEY_CODES and key is not None:
        return ObjectNotFound(f"object {key!r} does not exist in bucket {bucket!r}", bucket=bucket, key=key)
    if code == "InvalidAccessKeyId":
        return BadCredentials(
            ctx.scrub(
                f"the object store at {ctx.endpoint} does not know access key id "
                f"{ctx.access_key_id!r}: check access_key_id"
            )
        )
    if code == "SignatureDoesNotMatch":
        return BadCredentials(
            ctx.scrub(
                f"the object store at {ctx.endpoint} rejected the signature made with access key id "
                f"{ctx.access_key_id!r}: check secret_access_key"
            )
        )
    if code in _CREDENTIAL_CODES:
        return BadCredentials(
            ctx.scrub(
                f"the object store at {ctx.endpoint} refused access key id {ctx.access_key_id!r}"
                f"{where} ({code}: {message}): check the keys and their permissions"
            )
        )
    if code in {"BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "OperationAborted"}:
        return Conflict(ctx.scrub(f"{message}{where}"), code=code)
    if code in {"InvalidBucketName", "KeyTooLongError", "InvalidArgument", "InvalidRequest"}:
        return ValidationFailed(ctx.scrub(f"{message}{where} ({code})"))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return UpstreamError(
        ctx.scrub(f"the object store at {ctx.endpoint} answered {status} {code}: {message}{where}"),
        code=code,
    )


def _where(bucket: str | None, key: str | None) -> str:
    if bucket and key is not None:
        return f" on object {key!r} in bucket {bucket!r}"
    if bucket:
        return f" on bucket {bucket!r}"
    return ""
