"""Every driver exception of the Spark plugin becomes a Lakeplane error here, and only here.

The Kubernetes backend's requests (kubernetes-asyncio, aiohttp) go through the table of
:mod:`lakeplane.drivers.kubernetes`, with these errors of the engine's own:

    ApiException 404                                NotFound
    ApiException 410                                ResourceExpired (a watch must list again)
    ApiException 429, 5xx, unreachable              EngineUnavailable

Reading a job's application file from the object store (botocore):

    NoSuchKey, NoSuchBucket, 404                    ValidationFailed (the job names no file)
    AccessDenied, InvalidAccessKeyId,
    SignatureDoesNotMatch, 403                      BadCredentials
    any other error answer                          UpstreamError (its code)
    BotoCoreError                                   EndpointRefused, else UpstreamError

No message holds a secret: Kubernetes messages name objects, never their data, and S3 ones
only the URL and the error code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions

from lakeplane.drivers.kubernetes import KubernetesErrors
from lakeplane.errors import BadCredentials, EngineUnavailable, NotFound, UpstreamError, ValidationFailed
from lakeplane.security.endpoints import refusal_in


class ResourceExpired(EngineUnavailable):
    """410 Gone: the resourceVersion a watch resumed from is too old; list again."""


kubernetes_errors = KubernetesErrors(
    not_found=NotFound, unavailable=EngineUnavailable, expired=ResourceExpired, config_field="kubeconfig"
)


@contextmanager
def application_errors(url: str) -> Iterator[None]:
    """Map what botocore raises while reading the application file at ``url``."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "NoSuchBucket", "404"}:
            raise ValidationFailed(
                f"application file {url} does not exist",
                [{"field": "application", "message": f"no such object: {url}"}],
            ) from None
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
            raise BadCredentials(f"the object store refused to read {url} ({code})") from None
        raise UpstreamError(f"the object store failed to read {url} ({code})") from None
    except botocore.exceptions.BotoCoreError as exc:
        if (refused := refusal_in(exc)) is not None:
            raise refused from None
        raise UpstreamError(f"the object store is unreachable: {type(exc).__name__}") from None
