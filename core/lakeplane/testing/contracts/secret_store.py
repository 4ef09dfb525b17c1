"""The contract every :class:`~lakeplane.interfaces.SecretStore` keeps, against its real backing service.

Subclass :class:`SecretStoreContract` and provide three fixtures, each an *opened* store
on the session event loop, all three over the same backing service:

``secret_store``
    the store as configured;
``secret_store_next_key``
    the same store after a key rotation began: a new primary key, the old one still
    configured (a store whose service keeps the keys returns ``secret_store``);
``secret_store_next_key_only``
    the same store once the old key is removed.

What a store hands back is checked the way a connection row keeps it: through JSON,
with no plaintext in it. A store whose row holds the sealed value itself sets
``removes_values = False``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakeplane.errors import SecretUnavailable
from lakeplane.ids import new_id
from lakeplane.interfaces import SecretStore, Stored

#: Long enough that finding one inside the stored form is no accident.
PASSWORD = "contract-password-5f0c2a9e7d41"  # noqa: S105 - a test value
TOKEN = "contract-token-83b1d6e04c27"  # noqa: S105 - a test value

_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors, HealthCheck.too_slow]


def as_row(stored: Stored) -> Stored:
    """``stored`` as the connection row's JSON column gives it back."""
    loaded: Stored = json.loads(json.dumps(stored))
    return loaded


def assert_no_plaintext(stored: Stored, *values: str) -> None:
    text = json.dumps(stored)
    for value in values:
        assert value not in text, "a secret value is in what the connection row keeps"


class SecretStoreContract:
    """Behaviour every secret store must show. See the module docstring for fixtures."""

    pytestmark: ClassVar[Any] = [pytest.mark.asyncio(loop_scope="session")]
    #: The values live in the backing service, so a removed field no longer opens even from
    #: an old copy of the row. False for a store whose row *is* the sealed value.
    removes_values: ClassVar[bool] = True

    async def test_health(self, secret_store: SecretStore) -> None:
        result = await secret_store.health()
        assert result.ok, result.checks

    async def test_values_come_back_and_the_row_holds_none_of_them(self, secret_store: SecretStore) -> None:
        conn = new_id("conn")
        stored = as_row(await secret_store.put(conn, {"password": PASSWORD, "token": TOKEN}, {}))
        try:
            assert set(stored) == {"password", "token"}
            assert_no_plaintext(stored, PASSWORD, TOKEN)
            assert await secret_store.get(conn, stored) == {"password": PASSWORD, "token": TOKEN}
            assert await secret_store.get(conn, {}) == {}
        finally:
            await secret_store.remove(conn, stored)

    async def test_a_new_value_replaces_only_its_field(self, secret_store: SecretStore) -> None:
        """Rotating one secret: the new value is read back, the other field is kept."""
        conn = new_id("conn")
        stored = as_row(await secret_store.put(conn, {"password": PASSWORD, "token": TOKEN}, {}))
        try:
            stored = as_row(await secret_store.put(conn, {"password": "rotated-" + PASSWORD}, stored))
            assert await secret_store.get(conn, stored) == {"password": "rotated-" + PASSWORD, "token": TOKEN}
            assert_no_plaintext(stored, PASSWORD, TOKEN)
        finally:
            await secret_store.remove(conn, stored)

    async def test_removed_fields_are_gone(self, secret_store: SecretStore) -> None:
        conn = new_id("conn")
        stored = as_row(await secret_store.put(conn, {"password": PASSWORD, "token": TOKEN}, {}))
        kept = as_row(await secret_store.remove(conn, stored, ["token"]))
        assert set(kept) == {"password"}
        assert await secret_store.get(conn, kept) == {"password": PASSWORD}
        assert as_row(await secret_store.remove(conn, kept, ["absent"])) == kept
        assert await secret_store.remove(conn, kept) == {}
        assert await secret_store.remove(conn, {}) == {}
        if self.removes_values:
            with pytest.raises(SecretUnavailable):
                await secret_store.get(conn, stored)

    async def test_what_one_connection_stored_does_not_open_as_another(
        self, secret_store: SecretStore
    ) -> None:
        conn, other = new_id("conn"), new_id("conn")
        stored = as_row(await secret_store.put(conn, {"password": PASSWORD}, {}))
        try:
            with pytest.raises(SecretUnavailable):
                await secret_store.get(other, stored)
        finally:
            await secret_store.remove(conn, stored)

    async def test_connections_do_not_share_values(self, secret_store: SecretStore) -> None:
        conn, other = new_id("conn"), new_id("conn")
        mine = as_row(await secret_store.put(conn, {"password": PASSWORD}, {}))
        theirs = as_row(await secret_store.put(other, {"password": TOKEN}, {}))
        try:
            await secret_store.remove(other, theirs)
            assert await secret_store.get(conn, mine) == {"password": PASSWORD}
        finally:
            await secret_store.remove(conn, mine)

    async def test_key_rotation_keeps_every_value(
        self,
        secret_store: SecretStore,
        secret_store_next_key: SecretStore,
        secret_store_next_key_only: SecretStore,
    ) -> None:
        conn = new_id("conn")
        stored = as_row(await secret_store.put(conn, {"password": PASSWORD, "token": TOKEN}, {}))
        try:
            rotated = await secret_store_next_key.rotate(conn, stored)
            if rotated is not None:
                stored = as_row(rotated)
                assert_no_plaintext(stored, PASSWORD, TOKEN)
            assert await secret_store_next_key.rotate(conn, stored) is None, "rotated twice"
            values = await secret_store_next_key_only.get(conn, stored)
            assert values == {"password": PASSWORD, "token": TOKEN}
        finally:
            await secret_store.remove(conn, stored)

    @settings(max_examples=15, deadline=None, suppress_health_check=_SUPPRESSED)
    @given(
        values=st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200),
            min_size=1,
            max_size=4,
        )
    )
    async def test_any_text_round_trips(self, secret_store: SecretStore, values: dict[str, str]) -> None:
        conn = new_id("conn")
        stored = as_row(await secret_store.put(conn, values, {}))
        try:
            assert await secret_store.get(conn, stored) == values
        finally:
            await secret_store.remove(conn, stored)
