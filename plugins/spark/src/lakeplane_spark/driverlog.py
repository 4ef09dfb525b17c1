"""Reading a driver log: the tail worth showing on a failed run, and the stats a job reports.

A job reports its numbers by printing one JSON object on a line of its own as its
last word (``{"rows_written": 20000, "rows_rejected": 212}``); the engine puts that
object into ``EngineStatus.stats``.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Spark's log4j lines at INFO, and Java stack frames: noise in a failure message.
_NOISE = re.compile(r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d INFO |\s+at |\s*\.\.\. \d+ more$)")
TAIL_LINES = 30
TAIL_CHARS = 4000


def failure_tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines that are not INFO chatter or stack frames, at most :data:`TAIL_CHARS` long."""
    kept = [line for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
    tail = "\n".join(kept[-lines:])
    return tail[-TAIL_CHARS:]


def reported_stats(text: str) -> dict[str, Any]:
    """The last JSON object printed on a line of its own, or ``{}``."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def safe_cut(data: bytes, final: bool) -> bytes:
    """Cut a chunk at its last newline so a secret is never split across two reads."""
    if final or data.endswith(b"\n"):
        return data
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut >= 0 else b""
