"""Encryption of connection secrets at rest.

AES-256-GCM with a key derived (HKDF-SHA256) from each configured key. Every
ciphertext records the id of the key that made it, and is bound to its
connection and field as associated data, so a value copied to another row or
field fails to decrypt. Rotation: add a key, make it primary, run
``lakeplane secrets rotate``, then remove the old key.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lakeplane.errors import ConfigError, SecretUnavailable
from lakeplane.security.redact import SECRETS


class Keyring:
    def __init__(self, keys: dict[str, str], primary_key_id: str) -> None:
        self._ciphers = {key_id: AESGCM(_derive(material)) for key_id, material in keys.items()}
        self.primary_key_id = primary_key_id

    def encrypt(self, plaintext: str, context: str) -> dict[str, str]:
        SECRETS.add([plaintext])
        nonce = os.urandom(12)
        sealed = self._ciphers[self.primary_key_id].encrypt(nonce, plaintext.encode(), context.encode())
        return {"k": self.primary_key_id, "v": base64.b64encode(nonce + sealed).decode()}

    def decrypt(self, envelope: dict[str, Any], context: str) -> str:
        key_id = envelope.get("k")
        cipher = self._ciphers.get(str(key_id))
        if cipher is None:
            raise ConfigError(
                "security.encryption_keys",
                f"a stored secret was encrypted with key {key_id!r}, which is not configured",
            )
        blob = base64.b64decode(envelope["v"])
        try:
            plaintext = cipher.decrypt(blob[:12], blob[12:], context.encode()).decode()
        except InvalidTag:
            raise SecretUnavailable(f"a stored secret does not decrypt with key {key_id!r}") from None
        # Once in this process's memory, a secret is kept out of its log lines.
        SECRETS.add([plaintext])
        return plaintext

    def needs_rotation(self, envelope: dict[str, Any]) -> bool:
        return envelope.get("k") != self.primary_key_id


def _derive(material: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lakeplane secrets v1").derive(
        material.encode()
    )
