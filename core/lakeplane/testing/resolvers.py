"""Resolvers a test controls, for checking the endpoint guard against DNS rebinding.

``with using_endpoint_guard(EndpointGuard(resolver=RebindingResolver({...})))`` makes
every plugin client in the block resolve through it, the real client and the real
guard included; no driver is replaced.
"""

from __future__ import annotations

import socket

__all__ = ["METADATA_ADDRESS", "RebindingResolver"]

METADATA_ADDRESS = "169.254.169.254"


class RebindingResolver:
    """Answers ``first`` for a name's first lookup and ``later`` for every one after.

    Names not listed resolve through the system. ``lookups`` counts the lookups of
    each listed name, so a test can tell that a connect really asked again.
    """

    def __init__(self, names: dict[str, tuple[str, str]]) -> None:
        self.names = {name.lower(): answers for name, answers in names.items()}
        self.lookups: dict[str, int] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        answers = self.names.get(host.lower())
        if answers is None:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            return list(dict.fromkeys(str(info[4][0]) for info in infos))
        seen = self.lookups.get(host.lower(), 0)
        self.lookups[host.lower()] = seen + 1
        return [answers[0] if seen == 0 else answers[1]]
