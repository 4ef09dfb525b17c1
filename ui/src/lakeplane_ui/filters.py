"""Template filters: times the browser can localise, durations, numbers, JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from markupsafe import Markup, escape

STATE_TONES = {
    "queued": "wait",
    "waiting": "wait",
    "running": "busy",
    "succeeded": "good",
    "failed": "bad",
    "timed_out": "bad",
    "cancelled": "muted",
    "cancelling": "busy",
    "stopping": "busy",
    "success": "good",
    "failure": "bad",
    "denied": "bad",
    "ok": "good",
    "pass": "good",
    "fail": "bad",
    "warn": "wait",
    "skip": "muted",
    "paused": "muted",
    "active": "good",
}


def time_tag(value: dt.datetime | str | None) -> Markup:
    """``<time datetime="...">2026-11-25 18:31:20 UTC</time>``; ui.js rewrites it in the user's zone."""
    if value is None or value == "":
        return Markup('<span class="muted">—</span>')
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return escape(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC)
    iso = utc.isoformat().replace("+00:00", "Z")
    # Only digits and separators from our own formatting: nothing to escape (and this is hot).
    return Markup(f'<time datetime="{iso}">{utc:%Y-%m-%d %H:%M:%S} UTC</time>')  # noqa: S704


def duration(seconds: float | dt.timedelta | None) -> str:
    if seconds is None:
        return "—"
    if isinstance(seconds, dt.timedelta):
        seconds = seconds.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def elapsed(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return "—"
    if end is None:
        return "—"
    return duration((end - start).total_seconds())


_BADGES: dict[str, Markup] = {}


def badge(state: str | None) -> Markup:
    if not state:
        return Markup("")
    key = str(state)
    found = _BADGES.get(key)
    if found is None:
        tone = STATE_TONES.get(key.lower(), "muted")
        found = Markup('<span class="badge badge-{}">{}</span>').format(tone, key.replace("_", " "))
        if len(_BADGES) < 512:
            _BADGES[key] = found
    return found


def number(value: Any) -> str:
    if value is None:
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


FILTERS = {
    "time": time_tag,
    "duration": duration,
    "badge": badge,
    "number": number,
    "pretty_json": pretty_json,
    "cell": cell,
}


def install(engine: Any) -> None:
    """Add the filters to Litestar's Jinja environment (once)."""
    env = getattr(engine, "engine", None)
    if env is None or "badge" in env.filters:
        return
    env.filters.update(FILTERS)
    env.globals["elapsed"] = elapsed
    env.trim_blocks = True
    env.lstrip_blocks = True
