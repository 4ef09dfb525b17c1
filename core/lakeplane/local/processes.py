"""Start, recognise and stop the stack's own processes, and nothing else.

Each component runs as the leader of its own process group (``start_new_session``), so
stopping it reaches every child it forked. What was started is written down in the
stack directory as a :class:`ProcessRecord`: the pid together with the kernel's start
time of that pid and the boot id. A pid is only signalled while all three still match,
so a recycled pid that now belongs to someone else is never touched. Linux only: the
identity comes from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PROC = Path("/proc")

#: Children started by this interpreter, polled so that an exited one does not linger as a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """Who a started process is: enough to recognise it again from another interpreter."""

    pid: int
    start_ticks: int
    boot_id: str
    argv: list[str]
    started_at: float

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            raw = json.loads(path.read_text())
            return cls(
                pid=int(raw["pid"]),
                start_ticks=int(raw["start_ticks"]),
                boot_id=str(raw["boot_id"]),
                argv=[str(arg) for arg in raw["argv"]],
                started_at=float(raw["started_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` atomically with ``mode`` from the first byte (secrets live in these files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> ProcessRecord:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    uid = gid = None
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
    _children[process.pid] = process
    ticks = _start_ticks(process.pid)
    if ticks is None:  # exited before we could look at it; the caller will see it is not alive
        ticks = -1
    return ProcessRecord(
        pid=process.pid, start_ticks=ticks, boot_id=boot_id(), argv=list(argv), started_at=time.time()
    )


def is_alive(record: ProcessRecord) -> bool:
    """True while the recorded process runs and is still the very process that was recorded."""
    _reap()
    if record.boot_id != boot_id():
        return False
    return _start_ticks(record.pid) == record.start_ticks


def exit_code(record: ProcessRecord) -> int | None:
    """The exit code of a child of this interpreter that has ended, if known."""
    child = _children.get(record.pid)
    return None if child is None else child.poll()


async def stop(record: ProcessRecord, sig: int = signal.SIGTERM, grace: float = 20.0) -> bool:
    """Signal the recorded process group, escalate to SIGKILL after ``grace`` s; True if it was running.

    The group is only signalled while its leader is still the recorded process; once the
    leader has exited, stragglers in its group are killed too (a pid cannot be reused as a
    group id while that group still has members, so they are ours).
    """
    if not is_alive(record):
        return False

    def gone() -> bool:
        return not is_alive(record) and not group_members(record.pid)

    _signal_group(record.pid, sig)
    if not await wait_until(gone, grace):
        _signal_group(record.pid, signal.SIGKILL)
        await wait_until(gone, 10.0)
    return True


async def wait_until(condition: Callable[[], bool], seconds: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    _reap()
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[0] not in "ZX" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks after boot, or None when it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in "ZX":
        return None
    return int(fields[19])


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (state first), which may hold spaces."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _reap() -> None:
    for child in _children.values():
        child.poll()
