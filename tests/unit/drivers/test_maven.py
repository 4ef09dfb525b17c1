"""Downloads are verified against the published checksums before they reach the cache.

A small repository in Maven's layout is served from a local ``http.server``.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeplane.drivers.maven import ChecksumMismatch, DownloadFailed, MavenArtifact, cached_path, fetch

PAYLOAD = b"not really a tarball\n" * 5000


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(URL, directory) of a Maven-style repository on 127.0.0.1."""
    root = tmp_path / "repo"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def publish(
    root: Path, artifact: MavenArtifact, data: bytes, *, sha1: str | None = None, sha512: str | None = None
) -> None:
    path = root / artifact.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_name(path.name + ".sha1").write_text(
        (sha1 or hashlib.sha1(data, usedforsecurity=False).hexdigest()) + "\n"
    )
    if sha512 is not None:
        path.with_name(path.name + ".sha512").write_text(sha512 + "  " + path.name + "\n")


ARTIFACT = MavenArtifact("org.example", "thing", "1.0", "tar.gz")


def test_verified_download_lands_in_the_cache(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, root = repository
    publish(root, ARTIFACT, PAYLOAD, sha512=hashlib.sha512(PAYLOAD).hexdigest())
    progress = io.StringIO()

    path = fetch(ARTIFACT, cache=tmp_path / "cache", repository=url, progress=progress)

    assert path == cached_path(ARTIFACT, tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
    assert "downloaded thing-1.0.tar.gz" in progress.getvalue()
    (root / ARTIFACT.path).unlink()
    assert fetch(ARTIFACT, cache=tmp_path / "cache", repository=url, quiet=True) == path  # served from cache


def test_wrong_published_sha1_is_refused(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, root = repository
    publish(root, ARTIFACT, PAYLOAD, sha1="0" * 40)

    with pytest.raises(ChecksumMismatch, match="sha1"):
        fetch(ARTIFACT, cache=tmp_path / "cache", repository=url, quiet=True)

    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_wrong_published_sha512_is_refused(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, root = repository
    publish(root, ARTIFACT, PAYLOAD, sha512="ab" * 64)

    with pytest.raises(ChecksumMismatch, match="sha512"):
        fetch(ARTIFACT, cache=tmp_path / "cache", repository=url, quiet=True)

    assert not cached_path(ARTIFACT, tmp_path / "cache").exists()


def test_a_file_changed_upstream_is_refused_before_download(
    repository: tuple[str, Path], tmp_path: Path
) -> None:
    """The published sha1 is consistent with the bytes, but not the one pinned in code."""
    url, root = repository
    pinned = MavenArtifact(
        "org.example",
        "thing",
        "1.0",
        "tar.gz",
        sha1=hashlib.sha1(b"the original", usedforsecurity=False).hexdigest(),
    )
    publish(root, pinned, PAYLOAD)

    with pytest.raises(ChecksumMismatch, match="pinned"):
        fetch(pinned, cache=tmp_path / "cache", repository=url, quiet=True)

    assert not cached_path(pinned, tmp_path / "cache").exists()


def test_missing_artifact_is_one_clear_error(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = repository

    with pytest.raises(DownloadFailed, match=r"HTTP 404") as raised:
        fetch(ARTIFACT, cache=tmp_path / "cache", repository=url, quiet=True)

    assert "\n" not in raised.value.detail
    assert not isinstance(raised.value, ChecksumMismatch)


def test_unreachable_repository_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="could not download") as raised:
        fetch(ARTIFACT, cache=tmp_path / "cache", repository="http://127.0.0.1:9/", quiet=True, timeout=2)

    assert "\n" not in raised.value.detail
