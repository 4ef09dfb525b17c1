"""Login throttling in Postgres, so that every API process shares the counters.

Two buckets take each failed attempt: one per account name (hashed, so a password
typed into the user field is never stored) and one per source address. A bucket
that reaches its limit within the window is locked; each further failure doubles
the lock, up to :data:`MAX_LOCK`. While a bucket is locked, attempts are refused
with 429 and ``Retry-After`` before any password is checked. The account bucket
is keyed by the name as typed, so an unknown name behaves exactly like a known
one. A success clears the account bucket, not the source one.

The per-account lock lets anyone delay one account's logins (not take it over);
that is the accepted price of stopping online guessing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import ThrottleBucket
from lakeplane.errors import TooManyRequests
from lakeplane.timeutil import utcnow

WINDOW = dt.timedelta(minutes=15)
MAX_LOCK = dt.timedelta(minutes=15)


@dataclasses.dataclass(frozen=True)
class Limit:
    key: str
    failures: int
    first_lock: dt.timedelta


def account_key(username: str) -> str:
    return "account:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()


def limits_for(username: str, source_ip: str | None, purpose: str = "login") -> list[Limit]:
    return [
        Limit(f"{purpose}:{account_key(username)}", 5, dt.timedelta(seconds=60)),
        Limit(f"{purpose}:source:{source_ip or 'unknown'}", 20, dt.timedelta(seconds=300)),
    ]


async def check(db: AsyncSession, limits: list[Limit]) -> None:
    """Raise 429 when any bucket is locked."""
    now = utcnow()
    locked = (
        await db.scalars(
            select(ThrottleBucket.locked_until).where(
                ThrottleBucket.key.in_([limit.key for limit in limits]), ThrottleBucket.locked_until > now
            )
        )
    ).all()
    if locked:
        wait = max(until for until in locked if until is not None) - now
        raise TooManyRequests(
            "too many failed sign-in attempts; try again later",
            retry_after=max(1, math.ceil(wait.total_seconds())),
        )


_FAIL = text(
    """
    INSERT INTO login_throttle (key, failures, window_start, locked_until)
    VALUES (:key, 1, :now, NULL)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN login_throttle.window_start < :window_floor
                        AND (login_throttle.locked_until IS NULL OR login_throttle.locked_until < :now)
                   THEN 1 ELSE login_throttle.failures + 1 END,
        window_start = CASE WHEN login_throttle.window_start < :window_floor
                            AND (login_throttle.locked_until IS NULL OR login_throttle.locked_until < :now)
                       THEN :now ELSE login_throttle.window_start END
    RETURNING failures
    """
)


async def fail(db: AsyncSession, limits: list[Limit]) -> None:
    """Count one failure in every bucket, atomically; lock those at their limit."""
    now = utcnow()
    for limit in limits:
        failures = (
            await db.execute(_FAIL, {"key": limit.key, "now": now, "window_floor": now - WINDOW})
        ).scalar_one()
        if failures >= limit.failures:
            lock = min(MAX_LOCK, limit.first_lock * 2 ** min(failures - limit.failures, 16))
            await db.execute(
                text("UPDATE login_throttle SET locked_until = :until WHERE key = :key"),
                {"until": now + lock, "key": limit.key},
            )


async def clear(db: AsyncSession, limit: Limit) -> None:
    await db.execute(delete(ThrottleBucket).where(ThrottleBucket.key == limit.key))
