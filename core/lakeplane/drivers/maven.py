"""Fetch pinned Maven Central artifacts into a local cache, verified before use: the jars
a driver needs (Spark's Iceberg runtime) and the servers the local stack runs.

An artifact lands in the cache only after its bytes matched the ``.sha1`` that Maven
Central publishes beside it (and the ``.sha512`` where one is published), and that
published ``.sha1`` matched the one pinned in its :class:`MavenArtifact`: a file changed
upstream after it was pinned is refused rather than run. The download goes to a temporary file in the
same directory and is renamed into place, so a half-written file is never mistaken for
a cached one; a file present in the cache was verified when it arrived.

    LakeplaneError
    └── DownloadFailed          an artifact could not be fetched or stored
        └── ChecksumMismatch    the bytes or a published checksum are not the expected ones
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from lakeplane.errors import LakeplaneError

MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
CHUNK = 1 << 20


class DownloadFailed(LakeplaneError):
    code = "download-failed"


class ChecksumMismatch(DownloadFailed):
    code = "checksum-mismatch"


@dataclass(frozen=True)
class MavenArtifact:
    """One file of a Maven release, with the sha1 we saw published when we pinned it."""

    group: str
    artifact: str
    version: str
    extension: str
    sha1: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.{self.extension}"

    @property
    def path(self) -> str:
        """Path below the repository root, as Maven lays it out."""
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}@{self.extension}"


def cache_dir() -> Path:
    """``$LAKEPLANE_CACHE_DIR``, else ``~/.cache/lakeplane``: shared by every stack and test run."""
    configured = os.environ.get("LAKEPLANE_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "lakeplane"


def cached_path(artifact: MavenArtifact, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "maven" / artifact.path


def fetch(
    artifact: MavenArtifact,
    *,
    cache: Path | None = None,
    repository: str = MAVEN_CENTRAL,
    progress: TextIO | None = None,
    quiet: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Return the cached, verified file for ``artifact``, downloading it first if needed.

    Progress goes to ``progress`` (default: stderr) unless ``quiet``.

    Raises :class:`DownloadFailed` when the repository cannot be reached or answers with an
    error, and :class:`ChecksumMismatch` when a checksum disagrees; nothing is cached then.
    """
    target = cached_path(artifact, cache)
    if target.exists():
        return target
    base = repository if repository.endswith("/") else repository + "/"
    url = base + artifact.path
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            published_sha1 = _published_checksum(client, url + ".sha1", required=True)
            if artifact.sha1 is not None and published_sha1 != artifact.sha1:
                raise ChecksumMismatch(
                    f"{artifact}: Maven Central now publishes sha1 {published_sha1}, but {artifact.sha1} "
                    "was pinned; the file changed upstream, refusing it"
                )
            published_sha512 = _published_checksum(client, url + ".sha512", required=False)
            stream = None if quiet else (progress or sys.stderr)
            sha1, sha512 = _download(client, url, partial, artifact.filename, stream)
        if sha1 != published_sha1:
            raise ChecksumMismatch(f"{artifact}: downloaded sha1 {sha1} != published {published_sha1}")
        if published_sha512 is not None and sha512 != published_sha512:
            raise ChecksumMismatch(f"{artifact}: downloaded sha512 does not match the published .sha512")
        os.replace(partial, target)
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"could not download {url}: {_reason(exc)}") from exc
    except OSError as exc:
        raise DownloadFailed(f"could not store {artifact} in {target.parent}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _published_checksum(client: httpx.Client, url: str, *, required: bool) -> str | None:
    """The hex digest in a ``.sha1``/``.sha512`` file ("HEX" or "HEX  filename")."""
    response = client.get(url)
    if response.status_code == 404 and not required:
        return None
    if response.status_code != 200:
        raise DownloadFailed(f"could not download {url}: HTTP {response.status_code}")
    words = response.text.split()
    if not words:
        raise DownloadFailed(f"{url} is empty")
    return words[0].lower()


def _download(
    client: httpx.Client, url: str, partial: Path, name: str, progress: TextIO | None
) -> tuple[str, str]:
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha512 = hashlib.sha512()
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise DownloadFailed(f"could not download {url}: HTTP {response.status_code}")
        total = int(response.headers.get("content-length") or 0)
        meter = _Progress(name, total, progress)
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                sha1.update(chunk)
                sha512.update(chunk)
                meter.advance(len(chunk))
        meter.done()
    return sha1.hexdigest(), sha512.hexdigest()


class _Progress:
    """Download progress on a stream: a rewritten line on a terminal, a few lines elsewhere."""

    def __init__(self, name: str, total: int, stream: TextIO | None) -> None:
        self.name = name
        self.total = total
        self.stream = stream
        self.seen = 0
        self.started = time.monotonic()
        self.last_shown = -1.0
        self.tty = bool(stream is not None and stream.isatty())

    def advance(self, size: int) -> None:
        self.seen += size
        if self.stream is None:
            return
        now = time.monotonic()
        if self.tty and now - self.last_shown >= 0.2:
            self.last_shown = now
            self.stream.write(f"\rdownloading {self.name}: {self._amount()}")
            self.stream.flush()
        elif not self.tty and now - self.last_shown >= 10.0:
            if self.last_shown >= 0:
                self.stream.write(f"downloading {self.name}: {self._amount()}\n")
                self.stream.flush()
            self.last_shown = now

    def done(self) -> None:
        if self.stream is None:
            return
        elapsed = time.monotonic() - self.started
        prefix = "\r" if self.tty else ""
        self.stream.write(f"{prefix}downloaded {self.name}: {self.seen / 1e6:.0f} MB in {elapsed:.1f}s\n")
        self.stream.flush()

    def _amount(self) -> str:
        if self.total:
            return f"{100 * self.seen // self.total}% of {self.total / 1e6:.0f} MB"
        return f"{self.seen / 1e6:.0f} MB"


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
