"""Where the secret parameters of connections are kept.

A connection's row keeps, in its ``secrets`` column, what the store handed back for each
secret field: a sealed value (the ``database`` store, built in) or a reference to where the
value lives (the ``kubernetes`` store of ``lakeplane-plugin-kubernetes-secrets``, one
Secret per connection). Only the store turns that back into values, and only to build the
plugin instance that needs them. Every call names the connection, so what was stored for
one connection cannot be read as another's.

The config's ``[secret_store]`` table picks the store by name (default ``database``);
plugins register stores with the ``lakeplane_register_secret_stores`` hook.
``lakeplane secrets migrate --to <name>`` moves every connection's secrets from the
configured store to another.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from lakeplane.interfaces.base import CheckResult, Lifecycle, NoOptions

if TYPE_CHECKING:
    from lakeplane.security.crypto import Keyring

#: Field name -> what the store keeps in the connection row for it (JSON-serialisable).
Stored = dict[str, Any]


class SecretStore(Lifecycle):
    """Keeps the secret fields of connections. Use as ``async with Store(options, keyring) as s``."""

    #: Name used in the config's ``[secret_store]`` table, e.g. ``"database"``.
    name: ClassVar[str]
    kind: ClassVar[str] = "secret_store"
    Options: ClassVar[type[msgspec.Struct]] = NoOptions
    #: One line for listings.
    description: ClassVar[str] = ""

    def __init__(self, options: Any = None, keyring: Keyring | None = None) -> None:
        self.options = options if options is not None else self.Options()
        #: The configured encryption keys; a store that seals values itself uses them.
        self.keyring = keyring

    @abc.abstractmethod
    async def health(self) -> CheckResult:
        """Does the backing service answer, and may this process read there? One cheap request."""

    @abc.abstractmethod
    async def put(self, connection_id: str, values: Mapping[str, str], stored: Stored) -> Stored:
        """Store ``values`` (field -> plaintext) for a connection, replacing those fields.

        ``stored`` is what the connection's row holds now (``{}`` for a new connection);
        fields of it not in ``values`` are kept. Returns the row's new ``secrets`` for every
        field, which holds no plaintext. Raises :class:`~lakeplane.errors.UpstreamError`
        (:class:`~lakeplane.errors.BadCredentials` if refused) when the backing service
        fails; nothing stored before is lost then.
        """

    @abc.abstractmethod
    async def get(self, connection_id: str, stored: Stored) -> dict[str, str]:
        """The plaintext of every field in ``stored``. ``{}`` for ``{}``.

        Raises :class:`~lakeplane.errors.SecretUnavailable` when a value is gone or does
        not open (stored for another connection, altered), :class:`~lakeplane.errors.ConfigError`
        when it was sealed with a key that is no longer configured, and
        :class:`~lakeplane.errors.UpstreamError` when the backing service fails.
        """

    @abc.abstractmethod
    async def remove(
        self, connection_id: str, stored: Stored, fields: Collection[str] | None = None
    ) -> Stored:
        """Forget ``fields`` of a connection (every field when ``None``); returns what remains
        of ``stored``. Removing a field that is not stored is not an error."""

    @abc.abstractmethod
    async def rotate(self, connection_id: str, stored: Stored) -> Stored | None:
        """Store the connection's secrets again under the store's current key.

        Returns the new ``secrets`` for the row, or ``None`` when nothing was sealed with an
        older key (or the store keeps no keys of its own: the backing service encrypts at
        rest). The values do not change. Raises as :meth:`get` does.
        """
