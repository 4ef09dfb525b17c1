"""Refusing connection endpoints that point inside the host's cloud or filesystem.

A connection test makes the server open a socket to an address a user chose; an
endpoint on a link-local or metadata address (169.254.169.254 and friends) or a
``file:`` URL would turn that into a way to read credentials. Such endpoints are
refused unless ``security.allowed_endpoints`` names them.

The rule is applied twice: to the endpoint as written, when a connection is saved or
tested (:func:`check_endpoint`), and to the address each client actually connects to,
after resolution (:class:`EndpointGuard`, wired into the HTTP clients by
:mod:`lakeplane.security.connect`). A name that resolves to a harmless address when it
is saved and to the metadata address later is refused at the connect.

Host names are compared in one normal form (:func:`normalise_host`): lower case,
without trailing dots or brackets, IDNA-encoded (which also folds full-width digits
and dots), and IPv4 written in its dotted-quad form even when given as ``2852039166``
or ``0xa9.254.169.254``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterable, Iterator

from lakeplane.errors import EndpointRefused

BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local, cloud metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba metadata
        "0.0.0.0/8",
        "::/128",
    )
)
BLOCKED_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})
ALLOWED_SCHEMES = frozenset({"http", "https", "s3", "s3a", "thrift", "k8s", "postgresql", ""})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)``: the addresses ``host`` resolves to, as strings (``getaddrinfo``'s).
Resolver = Callable[[str, int], list[str]]

_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")


def normalise_host(host: str) -> str:
    """The form every comparison uses; raises :class:`EndpointRefused` for a malformed name."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0].lower()  # an IPv6 zone id names an interface, not a host
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    try:
        host = host.rstrip(".").encode("idna").decode("ascii").lower() if host.rstrip(".") else ""
    except UnicodeError:
        raise EndpointRefused(f"{host!r} is not a valid host name", field="host") from None
    host = host.rstrip(".")
    if _LEGACY_IPV4.fullmatch(host):
        with contextlib.suppress(OSError):
            return socket.inet_ntoa(socket.inet_aton(host))
    return host


def split_endpoint(value: str) -> tuple[str, str]:
    """(scheme, normalised host) of a URL or a bare host[:port]."""
    if "://" not in value and not value.lower().startswith(("file:", "data:", "gopher:")):
        value = f"//{value}"
    parsed = urllib.parse.urlsplit(value)
    host = parsed.netloc.rpartition("@")[2]
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    else:
        host = host.rpartition(":")[0] if host.count(":") == 1 else host
    return parsed.scheme.lower(), normalise_host(host) if host else ""


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host`` (TCP only)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EndpointGuard:
    """The rule, with the admin's exceptions and the resolver used to apply it."""

    def __init__(self, allowed: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.allowed = [_normalise_allowed(a) for a in allowed]
        self.resolver: Resolver = resolver or system_resolver

    def check(self, field: str, value: str, resolve: bool = True) -> None:
        """Raise :class:`EndpointRefused` if the endpoint ``value`` (URL or host[:port]) is refused.

        A name that does not resolve now is accepted: it is checked again at every connect.
        """
        try:
            scheme, host = split_endpoint(value.strip())
        except EndpointRefused as exc:
            raise EndpointRefused(f"{field}: {exc.detail}", field=field) from None
        except ValueError:
            raise EndpointRefused(f"{field}: {value!r} is not a valid endpoint", field=field) from None
        if scheme not in ALLOWED_SCHEMES:
            raise EndpointRefused(f"{field}: the {scheme}: scheme is not allowed for endpoints", field=field)
        if not host:
            raise EndpointRefused(f"{field}: no host in {value!r}", field=field)
        self.check_host(field, host, resolve)

    def check_host(self, field: str, host: str, resolve: bool = True) -> None:
        """The rule for one host name or address, whatever the scheme in front of it."""
        try:
            host = normalise_host(host)
        except EndpointRefused as exc:
            raise EndpointRefused(f"{field}: {exc.detail}", field=field) from None
        self._check_name(field, host)
        if _literal(host) is not None:
            self.check_address(host, host, field)
        elif resolve and not self._is_allowed(host):
            try:
                answers = self.resolver(host, 0)
            except OSError:
                return
            for answer in answers:
                self.check_address(host, answer, field)

    def check_address(self, host: str, address: str, field: str = "endpoint") -> None:
        """Raise :class:`EndpointRefused` if connecting to ``address`` (for ``host``) is refused."""
        host = normalise_host(host)
        ip = _literal(normalise_host(address))
        if ip is None:
            raise EndpointRefused(f"{field}: {host} resolved to {address!r}, not an address", field=field)
        if self._is_allowed(host) or self._is_allowed(ip.compressed):
            return
        if _blocked(ip):
            shown = host if host == ip.compressed else f"{host} resolves to {ip.compressed}, which"
            raise EndpointRefused(
                f"{field}: {shown} is a link-local or metadata address; "
                "an admin can allow it in security.allowed_endpoints",
                field=field,
            )

    def resolve(self, host: str, port: int, field: str = "endpoint") -> list[str]:
        """The addresses to connect to for ``host``, each checked; refused if any is blocked."""
        name = normalise_host(host)
        self._check_name(field, name)
        answers = [name] if _literal(name) is not None else self.resolver(name, port)
        for answer in answers:
            self.check_address(name, answer, field)
        return [normalise_host(a) for a in answers]

    async def aresolve(self, host: str, port: int, field: str = "endpoint") -> list[str]:
        """:meth:`resolve` off the event loop."""
        return await asyncio.to_thread(self.resolve, host, port, field)

    def _check_name(self, field: str, host: str) -> None:
        if host in BLOCKED_HOSTNAMES and not self._is_allowed(host):
            raise EndpointRefused(f"{field}: {host} is a metadata endpoint", field=field)

    def _is_allowed(self, host: str) -> bool:
        ip = _literal(host)
        for entry in self.allowed:
            if host == entry:
                return True
            if ip is not None:
                with contextlib.suppress(ValueError):
                    if ip in ipaddress.ip_network(entry, strict=False):
                        return True
        return False


_guard = EndpointGuard()


def endpoint_guard() -> EndpointGuard:
    """This process's guard: what every plugin's client connects through."""
    return _guard


def configure_endpoints(allowed: Iterable[str] = (), resolver: Resolver | None = None) -> EndpointGuard:
    """Set this process's guard (at start-up, from ``security.allowed_endpoints``)."""
    global _guard
    _guard = EndpointGuard(allowed, resolver)
    return _guard


@contextlib.contextmanager
def using_endpoint_guard(guard: EndpointGuard) -> Iterator[EndpointGuard]:
    """Use ``guard`` as the process's guard inside the block (tests with their own resolver)."""
    global _guard
    previous, _guard = _guard, guard
    try:
        yield guard
    finally:
        _guard = previous


def check_endpoint(field: str, value: str, allowed: Iterable[str] = (), resolve: bool = True) -> None:
    """Raise :class:`EndpointRefused` if ``value`` is not an acceptable endpoint.

    Resolution uses the process guard's resolver.
    """
    EndpointGuard(allowed, endpoint_guard().resolver).check(field, value, resolve)


def refusal_in(exc: BaseException) -> EndpointRefused | None:
    """The guard's refusal behind a driver's wrapping exception, if that is what it is.

    Clients that wrap whatever their transport raises (botocore, pyiceberg) would
    otherwise report a refused connect as an unreachable service.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EndpointRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _normalise_allowed(entry: str) -> str:
    entry = entry.strip()
    if "/" in entry:
        return entry.lower()
    try:
        return normalise_host(entry)
    except EndpointRefused:
        return entry.lower()


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _blocked(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in BLOCKED_NETWORKS)
