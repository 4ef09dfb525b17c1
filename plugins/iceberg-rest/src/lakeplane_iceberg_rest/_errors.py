"""Every pyiceberg and requests exception becomes a Lakeplane error here, and only here.

    pyiceberg / requests                            Lakeplane
    NoSuchTableError                                TableNotFound
    NoSuchNamespaceError, NoSuchIdentifierError     NotFound
    TableAlreadyExistsError,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError, CommitFailedException   Conflict
    UnauthorizedError, ForbiddenError, OAuthError,
    AuthorizationExpiredError                       BadCredentials
    BadRequestError                                 ValidationFailed
    requests ConnectionError, Timeout               UpstreamError ("cannot reach ...")
    NotImplementedError (HTTP 501), ServerError,
    other RESTError, unparsable answers, OSError    UpstreamError

pyiceberg raises from worker threads; :func:`map_errors` wraps the ``await`` on the
thread, so the traceback still points at the call that failed. Messages name the
catalog URI and the namespace or table; :meth:`ErrorContext.scrub` removes every
configured secret (credential, token, S3 secret) in case a server echoed one back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import pydantic
import requests
from pyiceberg import exceptions as ice

from lakeplane.drivers.errors import ScrubbingContext, map_driver_errors
from lakeplane.errors import (
    BadCredentials,
    Conflict,
    LakeplaneError,
    NotFound,
    TableNotFound,
    UpstreamError,
    ValidationFailed,
)


@dataclass(frozen=True)
class ErrorContext(ScrubbingContext):
    """What a message may name: the catalog's URI. ``secrets`` are never shown."""

    uri: str


def map_errors(ctx: ErrorContext, subject: str = "") -> AbstractContextManager[None]:
    """Turn a driver exception raised inside the block into the matching Lakeplane error.

    ``subject`` names what was being worked on, e.g. ``"table sales.orders"``.
    """
    return map_driver_errors(lambda exc: translate(exc, ctx, subject))


def translate(exc: Exception, ctx: ErrorContext, subject: str = "") -> LakeplaneError:
    """The Lakeplane error for ``exc``, raised while working on ``subject``."""
    said = ctx.scrub(_message(exc))
    about = f"{subject}: " if subject else ""
    if isinstance(exc, ice.NoSuchTableError):
        return TableNotFound(f"{about}no such table ({said})")
    if isinstance(exc, ice.NoSuchNamespaceError | ice.NoSuchIdentifierError):
        return NotFound(f"{about}no such namespace ({said})")
    if isinstance(exc, ice.TableAlreadyExistsError | ice.NamespaceAlreadyExistsError):
        return Conflict(f"{about}already exists ({said})")
    if isinstance(exc, ice.NamespaceNotEmptyError):
        return Conflict(f"{about}namespace is not empty: drop its tables and namespaces first ({said})")
    if isinstance(exc, ice.CommitFailedException):
        return Conflict(f"{about}the table changed while this change was being made: retry ({said})")
    if isinstance(
        exc, ice.UnauthorizedError | ice.ForbiddenError | ice.OAuthError | ice.AuthorizationExpiredError
    ):
        return BadCredentials(
            f"the catalog at {ctx.uri} refused the credentials ({said}): check credential or token"
        )
    if isinstance(exc, ice.BadRequestError):
        return ValidationFailed(f"{about}the catalog at {ctx.uri} rejected the request ({said})")
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return UpstreamError(
            f"cannot reach the catalog at {ctx.uri} ({type(exc).__name__}): "
            "check uri and that the service is running"
        )
    if isinstance(exc, NotImplementedError):
        return UpstreamError(
            f"the catalog at {ctx.uri} does not implement what was asked ({said}); "
            "if it is the OAuth2 token endpoint, set oauth2_server_uri or use a token"
        )
    if isinstance(exc, ice.RESTError):
        return UpstreamError(f"{about}the catalog at {ctx.uri} answered with an error ({said})")
    if isinstance(exc, pydantic.ValidationError | ValueError):
        return UpstreamError(f"{about}unexpected answer from the catalog at {ctx.uri} ({said})")
    if isinstance(exc, OSError):
        return UpstreamError(f"{about}reading or writing table files failed ({said})")
    return UpstreamError(f"{about}catalog client error {type(exc).__name__} ({said})")


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first_line = text.splitlines()[0]
    return first_line[:500]
