"""Refusing connection endpoints that point inside the host's cloud or filesystem.

A connection test makes the server open a socket to an address a user chose; an
endpoint on a link-local or metadata address (169.254.169.254 and friends) or a
``file:`` URL would turn that into a way to read credentials. Such endpoints are
refused unless ``security.allowed_endpoints`` names them.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Iterable

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


def split_endpoint(value: str) -> tuple[str, str]:
    """(scheme, host) of a URL or a bare host[:port]."""
    if "://" not in value and not value.lower().startswith(("file:", "data:", "gopher:")):
        value = f"//{value}"
    parsed = urllib.parse.urlsplit(value)
    return parsed.scheme.lower(), (parsed.hostname or "").lower()


def check_endpoint(field: str, value: str, allowed: Iterable[str] = (), resolve: bool = True) -> None:
    """Raise :class:`EndpointRefused` if ``value`` is not an acceptable endpoint."""
    allowed = [a.lower() for a in allowed]
    scheme, host = split_endpoint(value.strip())
    if scheme not in ALLOWED_SCHEMES:
        raise EndpointRefused(f"{field}: the {scheme}: scheme is not allowed for endpoints", field=field)
    if not host:
        raise EndpointRefused(f"{field}: no host in {value!r}", field=field)
    if _allowed(host, allowed):
        return
    if host.rstrip(".") in BLOCKED_HOSTNAMES:
        raise EndpointRefused(f"{field}: {host} is a metadata endpoint", field=field)
    for address in _addresses(host, resolve):
        if _allowed(str(address), allowed):
            continue
        if any(address in net for net in BLOCKED_NETWORKS) or _mapped_blocked(address):
            raise EndpointRefused(
                f"{field}: {host} resolves to {address}, a link-local or metadata address; "
                "an admin can allow it in security.allowed_endpoints",
                field=field,
            )


def _allowed(host: str, allowed: list[str]) -> bool:
    for entry in allowed:
        if host == entry:
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _mapped_blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return any(address.ipv4_mapped in net for net in BLOCKED_NETWORKS)
    return False


def _addresses(host: str, resolve: bool) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return []  # unresolvable: the connection test will say so
    return list({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos})
