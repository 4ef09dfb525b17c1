"""The ``database`` secret store: connection secrets sealed in the connection's own row.

Each value is sealed with AES-256-GCM under the primary key of ``security.encryption_keys``
(:class:`~lakeplane.security.crypto.Keyring`), bound to its connection and field, and
kept in the row's ``secrets`` column as ``{"k": <key id>, "v": <nonce + ciphertext>}``.
Rotation: add a key, make it primary, run ``lakeplane secrets rotate``, remove the old key.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import ClassVar

from lakeplane.errors import ConfigError, SecretUnavailable
from lakeplane.hookspecs import hookimpl
from lakeplane.interfaces import Check, CheckResult, CheckStatus, SecretStore, Stored
from lakeplane.plugins import Registry
from lakeplane.security.crypto import Keyring


class DatabaseSecretStore(SecretStore):
    name: ClassVar[str] = "database"
    description: ClassVar[str] = "connection secrets sealed with AES-256-GCM in the metadata database"

    @property
    def _keys(self) -> Keyring:
        if self.keyring is None:
            raise ConfigError("security.encryption_keys", "the database secret store needs the keyring")
        return self.keyring

    async def health(self) -> CheckResult:
        started = time.perf_counter()
        check = Check("encryption keys", CheckStatus.OK, f"primary key {self._keys.primary_key_id!r}")
        return CheckResult.of([check], started)

    async def put(self, connection_id: str, values: Mapping[str, str], stored: Stored) -> Stored:
        sealed = {k: self._keys.encrypt(v, _context(connection_id, k)) for k, v in values.items()}
        return {**stored, **sealed}

    async def get(self, connection_id: str, stored: Stored) -> dict[str, str]:
        values = {}
        for field, envelope in stored.items():
            if not isinstance(envelope, dict) or "k" not in envelope or "v" not in envelope:
                raise SecretUnavailable(
                    f"secret {field!r} of connection {connection_id} is not sealed in the database "
                    "(kept by another secret store?)"
                )
            values[field] = self._keys.decrypt(envelope, _context(connection_id, field))
        return values

    async def remove(
        self, connection_id: str, stored: Stored, fields: Collection[str] | None = None
    ) -> Stored:
        if fields is None:
            return {}
        return {k: v for k, v in stored.items() if k not in fields}

    async def rotate(self, connection_id: str, stored: Stored) -> Stored | None:
        if not any(self._keys.needs_rotation(envelope) for envelope in stored.values()):
            return None
        return await self.put(connection_id, await self.get(connection_id, stored), {})


def _context(connection_id: str, field: str) -> str:
    """Associated data: a value copied to another connection or field does not open."""
    return f"{connection_id}/{field}"


@hookimpl
def lakeplane_register_secret_stores(registry: Registry) -> None:
    registry.add(DatabaseSecretStore)
