"""The ``local`` backend: ``spark-submit --master local[*]`` from the pyspark wheel on this host.

Every run gets a directory under the work dir, and everything about the run lives
there, so any process on this host can answer for it::

    <work_dir>/<handle id>/
        run.json            the handle's data and the run id (for list_active)
        spark.properties    the Spark conf, secrets included; mode 0600, never on argv
        app.py              the application, when it came from the object store
        driver.log          spark-submit's stdout and stderr
        exit_code           written by the wrapper when spark-submit ends
        cancelled           written by cancel before it signals

spark-submit runs under a small ``sh`` wrapper in a session of its own, so its
process group holds the JVM and the Python driver; ``cancel`` signals that group.
The wrapper is started detached (its parent exits at once), so the control plane
need not stay alive, or reap it, for the run to finish and record its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from lakeplane.drivers.maven import DownloadFailed, cache_dir
from lakeplane.errors import EngineUnavailable, ValidationFailed
from lakeplane.interfaces import (
    ActiveWork,
    Check,
    CheckStatus,
    EngineHandle,
    EngineState,
    EngineStatus,
    LogChunk,
    Submission,
)
from lakeplane.timeutil import elapsed_ms
from lakeplane_spark.backend import SparkBackend
from lakeplane_spark.conf import catalog_conf, secret_conf
from lakeplane_spark.driverlog import failure_tail, reported_stats, safe_cut
from lakeplane_spark.jars import runtime_jars
from lakeplane_spark.spec import SparkBatchSpec

#: Runs ``"$@"`` in the background with its output in the log and its exit code in a
#: file, then returns at once; ``echo $!`` hands the wrapper's pid back to the caller.
WRAPPER = r"""
run_dir=$1; shift
(
  "$@" >>"$run_dir/driver.log" 2>&1 </dev/null
  echo $? >"$run_dir/exit_code.tmp" && mv "$run_dir/exit_code.tmp" "$run_dir/exit_code"
) </dev/null >/dev/null 2>&1 &
echo $!
"""
#: Environment variables the driver inherits; the control plane's own secrets stay behind.
PASSED_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "JAVA_HOME", "SPARK_LOCAL_IP")
TERM_GRACE_S = 10.0
LOG_CHUNK = 1 << 20


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise EngineUnavailable("pyspark is not installed: pip install 'lakeplane-plugin-spark[local]'")
    return Path(spec.origin).parent


def default_work_dir() -> Path:
    return cache_dir() / "spark" / "runs"


class LocalBackend(SparkBackend):
    kind = "local"

    @property
    def work_dir(self) -> Path:
        return Path(self.params.local_work_dir) if self.params.local_work_dir else default_work_dir()

    async def checks(self) -> list[Check]:
        started = time.perf_counter()
        try:
            submit = spark_home() / "bin" / "spark-submit"
            found = submit.exists()
            message = str(submit) if found else f"{submit} is missing"
        except EngineUnavailable as exc:
            found, message = False, exc.detail
        java = _java()
        return [
            Check(
                "spark-submit", CheckStatus.OK if found else CheckStatus.FAILED, message, elapsed_ms(started)
            ),
            Check(
                "java",
                CheckStatus.OK if java else CheckStatus.FAILED,
                java or "no java on PATH or JAVA_HOME",
                elapsed_ms(started),
            ),
        ]

    def command(self, spec: SparkBatchSpec, run_dir: Path, app_path: str, jars: list[Path]) -> list[str]:
        """The spark-submit command line: no secret on it (they are in the properties file)."""
        cores = str(self.params.local_cores) if self.params.local_cores else "*"
        command = [
            str(spark_home() / "bin" / "spark-submit"),
            "--master",
            f"local[{cores}]",
            "--name",
            run_dir.name,
            "--properties-file",
            str(run_dir / "spark.properties"),
            "--driver-memory",
            spec.resources.driver_memory,
            "--jars",
            ",".join(str(j) for j in jars),
        ]
        if spec.packages:
            command += ["--packages", ",".join(spec.packages)]
        return [*command, app_path, *spec.args]

    def properties(self, spec: SparkBatchSpec, run_dir: Path) -> dict[str, str]:
        return {
            # The job's own conf first, so the platform's settings win on any overlap.
            **spec.conf,
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.local.dir": str(run_dir / "tmp"),
            "spark.jars.ivy": str(cache_dir() / "ivy"),
            **catalog_conf(self.params),
            **secret_conf(self.params),
        }

    # The methods below do file and process work that blocks; each runs it in a thread.

    async def submit(
        self, submission: Submission, spec: SparkBatchSpec, app_source: bytes | None
    ) -> EngineHandle:
        return await asyncio.to_thread(self._start, submission, spec, app_source)

    def _start(self, submission: Submission, spec: SparkBatchSpec, app_source: bytes | None) -> EngineHandle:
        app_path = spec.application.removeprefix("local://")
        if app_source is None and not Path(app_path).is_file():
            raise ValidationFailed(
                f"application file {app_path} does not exist on this host",
                [{"field": "application", "message": f"no such file: {app_path}"}],
            )
        try:
            jars = runtime_jars()
        except DownloadFailed as exc:
            raise EngineUnavailable(f"Spark's Iceberg and S3 jars are unavailable: {exc.detail}") from None

        handle_id = f"{submission.run_id}-a{submission.attempt}-{uuid.uuid4().hex[:8]}".lower()
        run_dir = self.work_dir / handle_id
        run_dir.mkdir(parents=True, mode=0o700)
        (run_dir / "tmp").mkdir()
        if app_source is not None:
            app_path = str(run_dir / "app.py")
            Path(app_path).write_bytes(app_source)
        _write_private(run_dir / "spark.properties", _properties_text(self.properties(spec, run_dir)))

        wrapper = subprocess.run(
            [
                "/bin/sh",
                "-c",
                WRAPPER,
                "lakeplane-spark",
                str(run_dir),
                *self.command(spec, run_dir, app_path, jars),
            ],
            env=self._env(submission),
            cwd=run_dir,
            start_new_session=True,
            capture_output=True,
            check=True,
        )
        pid = int(wrapper.stdout.decode().strip())
        data: dict[str, Any] = {
            "backend": self.kind,
            "run_id": submission.run_id,
            "attempt": submission.attempt,
            "pid": pid,
            # The wrapper's parent led a new session; its group holds spark-submit and its children.
            "pgid": _pgid_of(pid),
            "run_dir": str(run_dir),
            "log_path": str(run_dir / "driver.log"),
            "status_path": str(run_dir / "exit_code"),
            "started": time.time(),
        }
        (run_dir / "run.json").write_text(json.dumps(data))
        return EngineHandle(engine="spark", id=handle_id, data=data)

    def _env(self, submission: Submission) -> dict[str, str]:
        env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
        env["SPARK_HOME"] = str(spark_home())
        env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
        env["LAKEPLANE_RUN_ID"] = submission.run_id
        env["LAKEPLANE_PARAMETERS"] = json.dumps(submission.parameters, default=str)
        return env

    async def status(self, handle: EngineHandle) -> EngineStatus:
        return await asyncio.to_thread(self._status, handle)

    def _status(self, handle: EngineHandle) -> EngineStatus:
        run_dir = Path(handle.data.get("run_dir", ""))
        if "pgid" not in handle.data or not run_dir.is_dir():
            return EngineStatus(EngineState.LOST, f"no run directory {run_dir}")
        exit_code = _read_exit_code(Path(handle.data["status_path"]))
        if exit_code is None and _group_alive(int(handle.data["pgid"])):
            elapsed = round(time.time() - float(handle.data["started"]), 3)
            return EngineStatus(EngineState.RUNNING, stats={"elapsed_s": elapsed})
        # The wrapper may have written the code between the first read and the liveness check.
        exit_code = _read_exit_code(Path(handle.data["status_path"]))
        if (run_dir / "cancelled").exists():
            return EngineStatus(EngineState.CANCELLED, "stopped on request")
        log = self.redact(_read_text(Path(handle.data["log_path"])))
        if exit_code == 0:
            return EngineStatus(EngineState.SUCCEEDED, stats=reported_stats(log))
        reason = (
            f"spark-submit exited with code {exit_code}"
            if exit_code is not None
            else "the driver ended without an exit code (killed?)"
        )
        return EngineStatus(
            EngineState.FAILED, f"{reason}\n{failure_tail(log)}", stats={"exit_code": exit_code}
        )

    async def cancel(self, handle: EngineHandle) -> None:
        pgid = await asyncio.to_thread(self._signal_stop, handle)
        if pgid is None:
            return
        deadline = time.monotonic() + TERM_GRACE_S
        # Polling: there is nothing to await for the end of a process we are not the parent of.
        while _group_alive(pgid) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        _signal_group(pgid, signal.SIGKILL)

    def _signal_stop(self, handle: EngineHandle) -> int | None:
        """Mark the run cancelled and SIGTERM its group; the group id, or None if nothing runs."""
        run_dir = Path(handle.data.get("run_dir", ""))
        if "pgid" not in handle.data or not run_dir.is_dir() or (run_dir / "exit_code").exists():
            return None
        (run_dir / "cancelled").touch()
        pgid = int(handle.data["pgid"])
        _signal_group(pgid, signal.SIGTERM)
        return pgid

    async def logs(self, handle: EngineHandle, offset: int) -> LogChunk:
        finished = (await self.status(handle)).state.terminal
        return await asyncio.to_thread(self._read_log, handle, offset, finished)

    def _read_log(self, handle: EngineHandle, offset: int, finished: bool) -> LogChunk:
        try:
            with Path(handle.data["log_path"]).open("rb") as log:
                log.seek(offset)
                data = log.read(LOG_CHUNK)
        except (FileNotFoundError, KeyError):
            return LogChunk(text="", offset=offset)
        data = safe_cut(data, final=finished and len(data) < LOG_CHUNK)
        return LogChunk(text=self.redact(data.decode(errors="replace")), offset=offset + len(data))

    async def list_active(self) -> list[ActiveWork]:
        return await asyncio.to_thread(self._list_active)

    def _list_active(self) -> list[ActiveWork]:
        active = []
        if not self.work_dir.is_dir():
            return []
        for meta in self.work_dir.glob("*/run.json"):
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            if not (meta.parent / "exit_code").exists() and _group_alive(int(data["pgid"])):
                handle = EngineHandle(engine="spark", id=meta.parent.name, data=data)
                attempt = data.get("attempt")
                active.append(
                    ActiveWork(
                        handle=handle,
                        run_id=data.get("run_id"),
                        attempt=attempt if isinstance(attempt, int) else None,
                    )
                )
        return active


def _properties_text(conf: dict[str, str]) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("=", "\\=").replace(":", "\\:")

    return "".join(f"{escape(key)}={escape(value)}\n" for key, value in sorted(conf.items()))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _pgid_of(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        # Already gone (an instant failure): the wrapper shares its parent's group id,
        # which was its parent's pid; the exit code file tells the rest.
        return pid


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _read_exit_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    from shutil import which

    return which("java")
