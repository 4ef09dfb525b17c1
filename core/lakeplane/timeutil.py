"""All stored times are timezone-aware UTC; durations are measured on ``perf_counter``."""

from __future__ import annotations

import datetime as dt
import time


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading), to two places:
    the latency a health check or a request reports."""
    return round((time.perf_counter() - started) * 1000, 2)
