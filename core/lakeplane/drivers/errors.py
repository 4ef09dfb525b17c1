"""What every plugin's error mapping shares: one context manager and secret-free messages.

A plugin writes its mapping table once, as a ``translate`` function from a driver
exception to a Lakeplane error, and wraps each call to its driver::

    with map_driver_errors(lambda exc: translate(exc, ctx, bucket), catching=DRIVER_ERRORS):
        answer = await client.head_bucket(Bucket=bucket)

A Lakeplane error raised inside the block goes on as it is; an endpoint the endpoint
guard refused goes on as that refusal, however the driver wrapped it; anything else
caught becomes ``translate(exc)``, raised ``from`` the driver's exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from lakeplane.errors import LakeplaneError
from lakeplane.security.endpoints import refusal_in
from lakeplane.security.redact import Redactor

__all__ = ["ScrubbingContext", "map_driver_errors"]


@dataclass(frozen=True, kw_only=True)
class ScrubbingContext:
    """Base of a plugin's error context: the configured ``secrets``, never shown in a message."""

    secrets: tuple[str, ...] = ()

    @cached_property
    def scrub(self) -> Callable[[str], str]:
        """Replaces every configured secret (and its encoded forms) in a text, whatever echoed it."""
        return Redactor(self.secrets, mask="***").scrub


@contextmanager
def map_driver_errors(
    translate: Callable[[Exception], LakeplaneError],
    catching: type[Exception] | tuple[type[Exception], ...] = Exception,
) -> Iterator[None]:
    """Turn a driver exception of the ``catching`` types raised inside the block into ``translate(exc)``."""
    try:
        yield
    except LakeplaneError:
        raise
    except catching as exc:
        if (refused := refusal_in(exc)) is not None:
            raise refused from None
        raise translate(exc) from exc
