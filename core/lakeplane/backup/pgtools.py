"""``pg_dump`` and ``pg_restore`` of the server's own major version.

A dump made by an older ``pg_dump`` may miss what a newer server has, and ``pg_restore``
refuses archives from a newer ``pg_dump``: the tools are chosen to match the server.
They come from the ``pgserver`` wheel (the same binaries as the embedded stack's
server), Debian's ``/usr/lib/postgresql/<major>/bin``, or ``$PATH``, whichever has the
right major version. The password goes through the environment, never the command line.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from lakeplane.errors import LakeplaneError


class BackupError(LakeplaneError, code="backup"):
    """A backup or restore that cannot go on; nothing was written by the step that failed."""


@dataclass(frozen=True)
class PgTarget:
    """Where a libpq client connects: from the control plane's SQLAlchemy URL."""

    host: str
    port: int | None
    user: str
    password: str | None
    database: str

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        parsed = make_url(url)
        host = parsed.query.get("host") or parsed.host or "localhost"
        return cls(
            host=str(host),
            port=parsed.port,
            user=parsed.username or "postgres",
            password=parsed.password if isinstance(parsed.password, str) else None,
            database=parsed.database or "postgres",
        )

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env |= {"PGHOST": self.host, "PGUSER": self.user, "PGDATABASE": self.database}
        if self.port:
            env["PGPORT"] = str(self.port)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        env["PGCONNECT_TIMEOUT"] = "10"
        return env


def _candidate_dirs(major: int) -> list[Path]:
    dirs: list[Path] = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    dirs.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    return dirs


def tool_major(path: Path | str) -> int | None:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out.stdout)
    return int(match[1]) if match else None


def find_tool(name: str, major: int) -> Path:
    """The ``name`` binary (``pg_dump``, ``pg_restore``) of PostgreSQL ``major``."""
    candidates = [d / name for d in _candidate_dirs(major)]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    seen: list[str] = []
    for candidate in candidates:
        if not candidate.exists():
            continue
        found = tool_major(candidate)
        if found == major:
            return candidate
        seen.append(f"{candidate} ({found or 'unknown version'})")
    where = f"; found only {', '.join(seen)}" if seen else ""
    raise BackupError(
        f"no {name} of PostgreSQL {major} (the server's version){where}; "
        f"install the pgserver wheel of that version or Debian's postgresql-client-{major}"
    )


async def run_tool(argv: list[str], target: PgTarget, *, stdin: int | None = None) -> str:
    """Run a client tool to the end; its stderr's first error line becomes a :class:`BackupError`."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=stdin,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=target.environ(),
    )
    _, err = await proc.communicate()
    text = err.decode(errors="replace")
    if proc.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {first_error(text)}")
    return text


def first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line
    return lines[-1] if lines else "no output"
