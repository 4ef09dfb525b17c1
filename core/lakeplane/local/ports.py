"""Loopback ports: check the ones the stack needs before starting anything, pick free ones for tests."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from contextlib import ExitStack

from lakeplane.local.errors import LocalStackError, PortInUse

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` (a socket in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: Mapping[str, int], host: str = LOOPBACK) -> None:
    """Raise :class:`PortInUse` naming the first taken port and the setting that chose it."""
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            setting = name.removesuffix(" gRPC")
            raise LocalStackError(
                f"port {port} ({name}) is out of range; choose another with --port {setting}=N"
                + (" (SeaweedFS also uses N+10000, so N must be at most 55535)" if name != setting else "")
            )
        if not port_is_free(port, host):
            raise PortInUse(
                f"port {port} on {host} ({name}) is already in use: stop what listens there "
                f"or choose another with --port {name}=N"
            )


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports that were free a moment ago (all held open while picked)."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


def free_port_with_offset(offset: int, host: str = LOOPBACK, exclude: frozenset[int] = frozenset()) -> int:
    """A free port ``p`` such that ``p + offset`` is free too (SeaweedFS derives gRPC ports so)."""
    for _ in range(200):
        (port,) = free_ports(1, host)
        partner = port + offset
        if port not in exclude and partner not in exclude and partner < 65536 and port_is_free(partner, host):
            return port
    raise PortInUse(f"found no free pair of loopback ports {offset} apart")
