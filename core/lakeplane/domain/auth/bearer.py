"""Bearer tokens issued by the identity provider (e.g. to a CI system through the
client-credentials grant), accepted on the API beside Lakeplane's own ``lp_`` tokens.

The provider checks the token locally (signature against its cached JWKS, issuer,
audience, expiry); here it becomes a user, found or created by ``(provider, subject)``
like a browser sign-in, with the provider's roles applied and audited. The mapping is
cached in the guards' token cache, keyed by everything the provider said, so a repeat
request costs the signature check and no database round trip; a change of roles in the
identity provider gives a different key and is applied at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import msgspec

from lakeplane.domain import audit
from lakeplane.domain.auth import services
from lakeplane.domain.auth.principals import CachedToken, Principal, forget_user, token_cache
from lakeplane.interfaces.auth import RedirectAuthProvider
from lakeplane.runtime import Services


def accepts_bearer(lp: Services) -> RedirectAuthProvider | None:
    provider = services.auth_provider(lp)
    return provider if isinstance(provider, RedirectAuthProvider) else None


async def principal_from_jwt(lp: Services, token: str, who: audit.Actor) -> Principal | None:
    """The principal of an identity provider's token; raises NotAuthenticated for a bad one."""
    provider = accepts_bearer(lp)
    if provider is None:
        return None
    identity = await provider.verify_bearer(token)
    if identity is None:
        return None
    cache = token_cache(lp)
    key = "idp:" + hashlib.sha256(msgspec.json.encode(identity)).hexdigest()
    entry = cache.get(key)
    if entry is not None:
        return entry.principal
    generation = cache.generation
    async with lp.sessions() as db, db.begin():
        user, refusal = await services.admit(db, lp, provider, identity, who, service_account=True)
    if user is not None:
        forget_user(lp, user.id)
        generation = cache.generation
    if refusal is not None:
        raise refusal
    assert user is not None
    principal = Principal(
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        via="token",
        credential_id=key,
    )
    expiry = provider.bearer_expiry(token)
    expires_at = dt.datetime.fromtimestamp(expiry, dt.UTC) if expiry is not None else None
    now = dt.datetime.now(dt.UTC)
    cache.put(key, CachedToken(principal, expires_at, time.monotonic(), now), generation)
    return principal
