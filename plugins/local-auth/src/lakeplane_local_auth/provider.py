"""The ``local`` auth provider: usernames and argon2id password hashes in the metadata database.

Hashing parameters default to OWASP's current minimum for argon2id (19 MiB of
memory, 2 passes, 1 lane); the options may raise them but never go below that
floor. A stored hash made with other parameters is re-hashed after the next
successful login, so raising the parameters upgrades every active account.

Each verification takes tens of milliseconds and ``memory_kib`` of RAM, so it
runs in a worker thread and at most ``max_concurrent_hashes`` run at once: a
flood of login attempts queues up instead of exhausting memory or the event loop.
An unknown or disabled user is checked against a dummy hash made with the same
parameters, so the time taken does not tell whether the account exists.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import argon2
import msgspec
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import CheckResult, Identity
from lakeplane.interfaces.auth import PasswordAuthProvider

#: OWASP Password Storage Cheat Sheet: argon2id with m=19 MiB, t=2, p=1 at least,
#: or m=46 MiB with t=1.
OWASP_FLOORS = ((19_456, 2), (47_104, 1))
#: Longer passwords are refused before hashing: argon2 would accept megabytes and
#: spend time on them; 1024 bytes is far beyond any passphrase.
MAX_PASSWORD_BYTES = 1024


class LocalAuthOptions(msgspec.Struct, forbid_unknown_fields=True):
    memory_kib: int = 19_456
    time_cost: int = 2
    parallelism: int = 1
    #: Hash computations allowed at once in this process (each holds ``memory_kib``).
    max_concurrent_hashes: int = 4
    min_password_length: int = 12

    def __post_init__(self) -> None:
        if not any(self.memory_kib >= m and self.time_cost >= t for m, t in OWASP_FLOORS):
            raise ValueError(
                "argon2id parameters are below OWASP's floor (memory_kib >= 19456 with time_cost >= 2, "
                "or memory_kib >= 47104)"
            )
        if not 1 <= self.parallelism <= 16:
            raise ValueError("parallelism must be between 1 and 16")
        if not 1 <= self.max_concurrent_hashes <= 256:
            raise ValueError("max_concurrent_hashes must be between 1 and 256")
        if not 8 <= self.min_password_length <= 128:
            raise ValueError("min_password_length must be between 8 and 128")


class LocalAuthProvider(PasswordAuthProvider):
    """Takes no connection parameters (the interface's ``NoParams``); its options tune the hashing."""

    name: ClassVar[str] = "local"
    description: ClassVar[str] = "Local users with argon2id password hashes"
    Options: ClassVar[type[msgspec.Struct]] = LocalAuthOptions

    def __init__(self, params: object = None, options: LocalAuthOptions | None = None) -> None:
        super().__init__(params, options)
        opts = self.settings = options if options is not None else LocalAuthOptions()
        self.hasher = argon2.PasswordHasher(
            time_cost=opts.time_cost,
            memory_cost=opts.memory_kib,
            parallelism=opts.parallelism,
            type=argon2.Type.ID,
        )
        self._slots = asyncio.Semaphore(opts.max_concurrent_hashes)
        self._dummy_hash: str | None = None

    async def health(self) -> CheckResult:
        return CheckResult(ok=True, checks=[])

    async def validate(self) -> CheckResult:
        return CheckResult(ok=True, checks=[])

    def check_password(self, password: str) -> None:
        size = len(password.encode("utf-8", "surrogatepass"))
        if size > MAX_PASSWORD_BYTES:
            raise ValidationFailed(
                f"passwords are limited to {MAX_PASSWORD_BYTES} bytes",
                [{"field": "password", "message": "too long"}],
            )

    def check_new_password(self, password: str) -> None:
        """Rules for a password being set (not for one being checked at login)."""
        self.check_password(password)
        minimum = self.settings.min_password_length
        if len(password) < minimum:
            raise ValidationFailed(
                f"a password needs at least {minimum} characters",
                [{"field": "password", "message": "too short"}],
            )

    async def hash_password(self, password: str) -> str:
        self.check_new_password(password)
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def authenticate(self, username: str, password: str) -> Identity | None:
        self.check_password(password)
        credential = await self.store.get_credential(username)
        stored = credential.password_hash if credential is not None else None
        matched = await self._verify(stored or await self._dummy(), password)
        if credential is None or stored is None or credential.disabled or not matched:
            return None
        if self.hasher.check_needs_rehash(stored):
            async with self._slots:
                fresh = await asyncio.to_thread(self.hasher.hash, password)
            await self.store.set_password_hash(credential.user_id, fresh)
        return Identity(provider=self.name, subject=credential.user_id, username=credential.username)

    async def _verify(self, stored: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self.hasher.verify, stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            async with self._slots:
                self._dummy_hash = await asyncio.to_thread(self.hasher.hash, "lakeplane-dummy-password")
        return self._dummy_hash
