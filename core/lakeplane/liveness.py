"""Liveness from a process's own loop: a heartbeat file whose modification time it moves on.

A worker's lease loop and the scheduler's tick loop beat once per round, whether or not the
metadata database answered, so a database outage does not make every pod look dead; a hung
event loop or a stopped process stops the beat. ``lakeplane health --live`` reads the file's
age and touches nothing else.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

#: A beat older than this means the loop is stuck.
DEFAULT_MAX_AGE_S = 30.0


def default_path(component: str) -> Path:
    base = os.environ.get("LAKEPLANE_HEARTBEAT_DIR") or tempfile.gettempdir()
    return Path(base) / f"lakeplane-{component}.heartbeat"


class Heartbeat:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def beat(self) -> None:
        if self.path is None:
            return
        try:
            os.utime(self.path)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"{os.getpid()}\n")
        except OSError:
            pass  # a read-only or full disk must not stop the loop that beats

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def age(path: Path) -> float | None:
    """Seconds since the last beat, ``None`` if there was none."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None
