"""What every pluggable implementation shares: a name, declared parameters, a lifecycle.

An implementation class is registered by a plugin hook and picked by name in the
config file. It is instantiated per *connection*: ``Params`` is the msgspec Struct
of the connection parameters it accepts (secret fields marked with :data:`Secret`,
network endpoints with :data:`Endpoint`), ``Options`` the platform-wide settings
decoded from the config file's ``options`` table.
"""

from __future__ import annotations

import abc
import enum
from types import TracebackType
from typing import Annotated, Any, ClassVar, Self

import msgspec

from lakeplane.timeutil import elapsed_ms

#: A connection parameter that is encrypted at rest, never returned and redacted from logs.
Secret = Annotated[str, msgspec.Meta(extra={"secret": True})]
#: A connection parameter that names a network endpoint; checked against the endpoint guard.
Endpoint = Annotated[str, msgspec.Meta(extra={"endpoint": True})]


class NoOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Options of a plugin that has none."""


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    """Connection parameters of a plugin that takes none."""


class CheckStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"


class Check(msgspec.Struct):
    """One step of a health check or connection test."""

    name: str
    status: CheckStatus
    message: str = ""
    latency_ms: float = 0.0


class CheckResult(msgspec.Struct):
    """Outcome of ``health()`` or ``validate()``: ``ok`` only if every check passed."""

    ok: bool
    checks: list[Check]
    latency_ms: float = 0.0

    @classmethod
    def of(cls, checks: list[Check], started: float) -> CheckResult:
        return cls(
            ok=all(c.status is CheckStatus.OK for c in checks),
            checks=checks,
            latency_ms=elapsed_ms(started),
        )


class Lifecycle(abc.ABC):  # noqa: B024 - a mixin of optional hooks, abstract in its subclasses
    """``async with``: :meth:`open` on entry, :meth:`close` on exit; both optional hooks."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire clients or sessions. Called by ``__aenter__``."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``open`` acquired. Called by ``__aexit__``."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Component(Lifecycle):
    """Base of the four interfaces. Use as ``async with Impl(params, options) as c: ...``."""

    #: Name used in config files and connections, e.g. ``"s3"``.
    name: ClassVar[str]
    #: Interface kind: ``object_store``, ``catalog``, ``engine`` or ``auth``.
    kind: ClassVar[str]
    Params: ClassVar[type[msgspec.Struct]]
    Options: ClassVar[type[msgspec.Struct]] = NoOptions
    #: One line for listings.
    description: ClassVar[str] = ""

    def __init__(self, params: Any, options: Any = None) -> None:
        self.params = params
        self.options = options if options is not None else self.Options()

    @abc.abstractmethod
    async def health(self) -> CheckResult:
        """Is the service up? One cheap request; used by ``/health/ready`` and the health page.

        A service that is down or refuses the credentials is a result with ``ok`` false and the
        reason in its check, not an exception.
        """

    @abc.abstractmethod
    async def validate(self) -> CheckResult:
        """Do these parameters work? Reachability, credentials, required buckets or catalogs.

        Run before a connection is saved or tested; every failed check is in the result, with
        ``ok`` false, rather than raised.
        """


def secret_fields(params_type: type[msgspec.Struct]) -> frozenset[str]:
    """Names of the fields of ``params_type`` annotated with :data:`Secret`."""
    return _fields_with(params_type, "secret")


def endpoint_fields(params_type: type[msgspec.Struct]) -> frozenset[str]:
    """Names of the fields of ``params_type`` annotated with :data:`Endpoint`."""
    return _fields_with(params_type, "endpoint")


def _fields_with(params_type: type[msgspec.Struct], flag: str) -> frozenset[str]:
    info = msgspec.inspect.type_info(params_type)
    assert isinstance(info, msgspec.inspect.StructType)
    names = set()
    for field in info.fields:
        field_type = field.type
        if isinstance(field_type, msgspec.inspect.UnionType):
            candidates = list(field_type.types)
        else:
            candidates = [field_type]
        for candidate in candidates:
            extra = getattr(candidate, "extra", None) or {}
            if extra.get(flag):
                names.add(field.name)
    return frozenset(names)
