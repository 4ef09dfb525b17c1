"""The local provider on its own: hashing parameters, rehash, length cap, unknown users."""

from __future__ import annotations

import statistics
import time

import argon2
import msgspec
import pytest

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import StoredCredential
from lakeplane.testing.contracts import assert_registered
from lakeplane_local_auth import LocalAuthOptions, LocalAuthProvider

PASSWORD = "correct horse battery staple"


class DictStore:
    """The core's credential store, reduced to a dict: the provider sees nothing more."""

    def __init__(self) -> None:
        self.users: dict[str, StoredCredential] = {}
        self.writes: list[tuple[str, str]] = []

    async def get_credential(self, username: str) -> StoredCredential | None:
        return self.users.get(username)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self.writes.append((user_id, password_hash))
        for name, cred in self.users.items():
            if cred.user_id == user_id:
                self.users[name] = msgspec.structs.replace(cred, password_hash=password_hash)


def provider(**options: int) -> tuple[LocalAuthProvider, DictStore]:
    store = DictStore()
    instance = LocalAuthProvider(options=LocalAuthOptions(**options))
    instance.bind(store)
    return instance, store


async def add(store: DictStore, auth: LocalAuthProvider, name: str, disabled: bool = False) -> None:
    password_hash = await auth.hash_password(PASSWORD)
    store.users[name] = StoredCredential(
        user_id=f"usr_{name}", username=name, password_hash=password_hash, disabled=disabled
    )


def test_registered_as_the_local_auth_plugin():
    assert_registered(LocalAuthProvider, "lakeplane-plugin-local-auth")


async def test_hashes_are_argon2id_with_owasp_parameters():
    auth, _ = provider()
    hashed = await auth.hash_password(PASSWORD)
    params = argon2.extract_parameters(hashed)
    assert hashed.startswith("$argon2id$")
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19_456, 2, 1)


@pytest.mark.parametrize(("memory_kib", "time_cost"), [(19_455, 2), (19_456, 1), (8_192, 4)])
def test_options_below_the_owasp_floor_are_refused(memory_kib, time_cost):
    with pytest.raises(msgspec.ValidationError, match="OWASP"):
        msgspec.convert({"memory_kib": memory_kib, "time_cost": time_cost}, LocalAuthOptions)


async def test_authenticates_and_refuses_without_saying_why():
    auth, store = provider()
    await add(store, auth, "ada")
    await add(store, auth, "gone", disabled=True)
    identity = await auth.authenticate("ada", PASSWORD)
    assert identity is not None and identity.subject == "usr_ada" and identity.provider == "local"
    assert await auth.authenticate("ada", "wrong password") is None
    assert await auth.authenticate("nobody", PASSWORD) is None
    assert await auth.authenticate("gone", PASSWORD) is None


async def test_rehashes_on_login_when_parameters_change():
    old, store = provider(memory_kib=19_456, time_cost=2)
    await add(store, old, "ada")
    stronger, _ = provider(memory_kib=24_576, time_cost=3)
    stronger.bind(store)
    assert await stronger.authenticate("ada", "wrong password") is None
    assert store.writes == []  # never on a failed attempt
    assert await stronger.authenticate("ada", PASSWORD) is not None
    assert len(store.writes) == 1
    params = argon2.extract_parameters(store.users["ada"].password_hash or "")
    assert (params.memory_cost, params.time_cost) == (24_576, 3)
    assert await stronger.authenticate("ada", PASSWORD) is not None
    assert len(store.writes) == 1


async def test_oversized_and_short_passwords_are_refused():
    auth, store = provider()
    await add(store, auth, "ada")
    with pytest.raises(ValidationFailed):
        await auth.authenticate("ada", "x" * 1025)
    with pytest.raises(ValidationFailed):
        await auth.authenticate("nobody", "é" * 513)  # 1026 bytes
    with pytest.raises(ValidationFailed):
        await auth.hash_password("x" * 1025)
    with pytest.raises(ValidationFailed):
        await auth.hash_password("short")
    assert await auth.hash_password("x" * 1024)


async def test_unknown_users_cost_a_hash_like_known_ones():
    auth, store = provider()
    await add(store, auth, "ada")
    await auth.authenticate("warm-up", PASSWORD)
    known, unknown = [], []
    for _ in range(5):
        started = time.perf_counter()
        await auth.authenticate("ada", "wrong password")
        known.append(time.perf_counter() - started)
        started = time.perf_counter()
        await auth.authenticate("nobody", "wrong password")
        unknown.append(time.perf_counter() - started)
    assert statistics.median(unknown) > 0.5 * statistics.median(known)
