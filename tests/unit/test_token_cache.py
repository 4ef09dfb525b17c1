"""The verified-token cache: short-lived, dropped at once by revocation, never refilled by a stale lookup."""

from __future__ import annotations

import time

from lakeplane.domain.auth.principals import CachedToken, Principal, TokenCache


def entry(user_id: str = "usr_1", token_id: str = "tok_1") -> CachedToken:  # noqa: S107
    principal = Principal(
        user_id=user_id, username="ada", is_admin=False, via="token", credential_id=token_id
    )
    return CachedToken(principal, expires_at=None, cached_at=time.monotonic(), last_used_at=None)


def test_entries_expire_after_the_ttl():
    cache = TokenCache(ttl=0.05)
    cache.put("h", entry(), cache.generation)
    assert cache.get("h") is not None
    time.sleep(0.06)
    assert cache.get("h") is None


def test_forget_token_and_forget_user_drop_entries():
    cache = TokenCache()
    cache.put("a", entry("usr_1", "tok_a"), cache.generation)
    cache.put("b", entry("usr_1", "tok_b"), cache.generation)
    cache.put("c", entry("usr_2", "tok_c"), cache.generation)
    cache.forget_token("tok_a")
    assert cache.get("a") is None and cache.get("b") is not None
    cache.forget_user("usr_1")
    assert cache.get("b") is None and cache.get("c") is not None


def test_a_lookup_that_raced_a_revocation_is_not_cached():
    cache = TokenCache()
    started_at = cache.generation  # a request reads the token row...
    cache.forget_token("tok_1")  # ...while another revokes it and commits
    cache.put("h", entry(), started_at)  # the first request's stale answer
    assert cache.get("h") is None


def test_the_cache_is_bounded():
    cache = TokenCache(max_entries=3)
    for i in range(10):
        cache.put(str(i), entry(token_id=f"tok_{i}"), cache.generation)
    assert len(cache.entries) <= 3
