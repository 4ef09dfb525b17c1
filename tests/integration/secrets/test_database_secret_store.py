"""The secret store contract on the built-in ``database`` store, and its key rotation."""

from __future__ import annotations

import secrets

import pytest

from lakeplane.builtins.database_secrets import DatabaseSecretStore
from lakeplane.errors import ConfigError, SecretUnavailable
from lakeplane.security.crypto import Keyring
from lakeplane.testing.contracts import SecretStoreContract

OLD_KEY = secrets.token_urlsafe(32)
NEW_KEY = secrets.token_urlsafe(32)


class TestDatabaseSecretStore(SecretStoreContract):
    removes_values = False  # the row holds the sealed value; nothing else to forget

    @pytest.fixture
    def secret_store(self) -> DatabaseSecretStore:
        return DatabaseSecretStore(keyring=Keyring({"k1": OLD_KEY}, "k1"))

    @pytest.fixture
    def secret_store_next_key(self) -> DatabaseSecretStore:
        return DatabaseSecretStore(keyring=Keyring({"k1": OLD_KEY, "k2": NEW_KEY}, "k2"))

    @pytest.fixture
    def secret_store_next_key_only(self) -> DatabaseSecretStore:
        return DatabaseSecretStore(keyring=Keyring({"k2": NEW_KEY}, "k2"))


async def test_a_value_sealed_with_a_removed_key_names_the_key() -> None:
    old = DatabaseSecretStore(keyring=Keyring({"k1": OLD_KEY}, "k1"))
    new_only = DatabaseSecretStore(keyring=Keyring({"k2": NEW_KEY}, "k2"))
    stored = await old.put("conn_1", {"password": "a-password-long-enough"}, {})
    with pytest.raises(ConfigError, match="'k1', which is not configured"):
        await new_only.get("conn_1", stored)


async def test_an_altered_value_does_not_open() -> None:
    store = DatabaseSecretStore(keyring=Keyring({"k1": OLD_KEY}, "k1"))
    stored = await store.put("conn_1", {"password": "a-password-long-enough"}, {})
    with pytest.raises(SecretUnavailable):
        await store.get(
            "conn_1", {"password": {**stored["password"], "v": stored["password"]["v"][:-4] + "AAA="}}
        )
    with pytest.raises(SecretUnavailable, match="not sealed in the database"):
        await store.get("conn_1", {"password": {"secret": "lakeplane-conn-1", "key": "password"}})
