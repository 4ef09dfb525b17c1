"""A second real Trino, for what the core's ``trino_service`` does not offer.

The tests of basic authentication need HTTPS and a password file, and the benchmark
wants the ``tpch`` connector for a realistic scan. ``trino-server-core`` and
``trino-tpch`` come from Maven Central through :mod:`lakeplane.drivers.maven`
(checksums verified and pinned). One coordinator starts on free loopback ports:
HTTP without authentication, and HTTPS with a self-signed certificate and a
password file.

Run as a script to keep one running for the benchmark::

    .venv/bin/python plugins/trino/tests/_trino_server.py
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from lakeplane.drivers.maven import MavenArtifact, cache_dir, fetch
from lakeplane.local.downloads import TRINO_SERVER, TRINO_VERSION
from lakeplane.local.ports import free_ports
from lakeplane.local.trino import find_java

#: Connectors added to the server, pinned like the core's Trino artifacts.
CONNECTORS = {
    "tpch": MavenArtifact(
        "io.trino", "trino-tpch", TRINO_VERSION, "zip", sha1="ab0b7644e855d8291cbec4e94b8985d66fa50254"
    ),
}
USER = "lakeplane"


@dataclass
class DevTrino:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    https_port: int
    #: Accepted over HTTPS for :data:`USER`.
    password: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def install() -> Path:
    """The server directory with the connectors in ``plugin/``, unpacked once per version."""
    home = cache_dir() / "trino" / f"{TRINO_VERSION}-with-{'-'.join(CONNECTORS)}"
    if home.exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=home.parent))
    with tarfile.open(fetch(TRINO_SERVER)) as archive:
        archive.extractall(staging, filter="data")
    server = staging / f"trino-server-core-{TRINO_VERSION}"
    for name, artifact in CONNECTORS.items():
        with zipfile.ZipFile(fetch(artifact)) as archive:
            archive.extractall(staging)  # noqa: S202 - a pinned artifact; zipfile drops ".." and "/" anyway
        (staging / f"{artifact.artifact}-{TRINO_VERSION}").rename(server / "plugin" / name)
    for launcher in server.glob("bin/**/launcher"):
        launcher.chmod(0o755)
    server.rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    return home


def _self_signed_pem() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)


def _password_line(user: str, password: str) -> str:
    """Trino's PBKDF2 format: ``iterations:salt:hash`` in hex, PBKDF2WithHmacSHA1."""
    salt = secrets.token_bytes(16)
    hashed = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, 1000, dklen=32)
    return f"{user}:1000:{salt.hex()}:{hashed.hex()}\n"


def start(workdir: Path, timeout_s: float = 600.0) -> DevTrino:
    home, java_home = install(), find_java()
    etc, data = workdir / "etc", workdir / "data"
    (etc / "catalog").mkdir(parents=True, exist_ok=True)
    data.mkdir(exist_ok=True)
    (port, https_port), password = free_ports(2), secrets.token_urlsafe(12)
    (etc / "server.pem").write_bytes(_self_signed_pem())
    (etc / "password.db").write_text(_password_line(USER, password))
    (etc / "node.properties").write_text(
        f"node.environment=test\nnode.id=lakeplane-test\nnode.data-dir={data}\n"
        "node.bind-ip=127.0.0.1\nnode.internal-address=127.0.0.1\n"
    )
    (etc / "jvm.config").write_text(
        "-server\n-Xmx2G\n-XX:+UseG1GC\n-XX:+ExitOnOutOfMemoryError\n-Djdk.attach.allowAttachSelf=true\n"
    )
    # Only the plugins used here: loading all of them takes longer than the rest of start-up.
    plugins = workdir / "plugin"
    plugins.mkdir(exist_ok=True)
    for plugin in ("password-authenticators", *CONNECTORS):
        (plugins / plugin).symlink_to(home / "plugin" / plugin)
    (etc / "config.properties").write_text(
        f"coordinator=true\nnode-scheduler.include-coordinator=true\nplugin.dir={plugins}\n"
        f"http-server.http.port={port}\ndiscovery.uri=http://127.0.0.1:{port}\n"
        f"http-server.https.enabled=true\nhttp-server.https.port={https_port}\n"
        f"http-server.https.keystore.path={etc / 'server.pem'}\n"
        "http-server.authentication.type=PASSWORD\n"
        "http-server.authentication.allow-insecure-over-http=true\n"
        f"internal-communication.shared-secret={secrets.token_urlsafe(32)}\n"
        "query.max-memory=1GB\nquery.max-memory-per-node=1GB\n"
    )
    (etc / "password-authenticator.properties").write_text(
        f"password-authenticator.name=file\nfile.password-file={etc / 'password.db'}\n"
    )
    for connector in CONNECTORS:
        (etc / "catalog" / f"{connector}.properties").write_text(f"connector.name={connector}\n")
    log_path = workdir / "server.log"
    env = {**os.environ, "JAVA_HOME": str(java_home), "PATH": f"{java_home / 'bin'}:{os.environ['PATH']}"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(home / "bin" / "launcher"), "run", f"--etc-dir={etc}", f"--data-dir={data}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    server = DevTrino(process, "127.0.0.1", port, https_port, password, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if not httpx.get(f"{server.url}/v1/info", timeout=2).json()["starting"]:
                return server
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    server.stop()
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"Trino did not start within {timeout_s}s:\n{tail}")


if __name__ == "__main__":
    server = start(Path(tempfile.mkdtemp(prefix="lakeplane-trino-")))
    print(
        f"Trino {TRINO_VERSION} at {server.url} (https on {server.https_port}); Ctrl-C stops it", flush=True
    )
    try:
        # sigwait only receives blocked signals; unblocked, SIGTERM would end Python and orphan Trino.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
        sys.exit(0)
