"""The backup archive: one uncompressed tar (the database dump is compressed already).

Members, in this order::

    database.dump          pg_dump --format=custom of the metadata database
    config.json            the resolved config, every secret and key masked
    logs/<key>             each run log object of the platform store, under its own key
    manifest.json          format, schema revision, PostgreSQL major, key fingerprints,
                           row counts, and the size and SHA-256 of every other member

The manifest comes last, once every checksum is known. :func:`verify` reads the whole
archive before a restore writes anything: a truncated or corrupt tar, a member whose
checksum differs, a missing member, or a schema this installation does not know are
each refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from lakeplane.backup.pgtools import BackupError
from lakeplane.db.migrate import known_revisions

FORMAT = 1
DUMP = "database.dump"
CONFIG = "config.json"
MANIFEST = "manifest.json"
LOGS = "logs/"
NAME_PATTERN = re.compile(r"lakeplane-backup-(\d{8}T\d{6})\.(\d{3})Z\.tar")
CHUNK = 1 << 20


def archive_name(at: dt.datetime) -> str:
    at = at.astimezone(dt.UTC)
    return f"lakeplane-backup-{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z.tar"


def archive_time(name: str) -> dt.datetime | None:
    match = NAME_PATTERN.fullmatch(name)
    if match is None:
        return None
    at = dt.datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    return at + dt.timedelta(milliseconds=int(match[2]))


class Member(msgspec.Struct):
    name: str
    size: int
    sha256: str


class Manifest(msgspec.Struct):
    format: int
    lakeplane_version: str
    created_at: str
    schema_revision: str
    postgres_major: int
    #: Key id -> fingerprint of every key the stored secrets are encrypted with.
    keys: dict[str, str]
    #: Rows per table when the archive was made.
    counts: dict[str, int]
    log_bucket: str | None
    members: list[Member]


def key_fingerprint(material: str) -> str:
    """Tells two keys apart without revealing either."""
    return hashlib.sha256(b"lakeplane key fingerprint\0" + material.encode()).hexdigest()[:24]


@dataclass
class ArchiveWriter:
    """Adds members to a tar and remembers their checksums for the manifest."""

    tar: tarfile.TarFile
    members: list[Member] = field(default_factory=list)

    def add_file(self, name: str, path: Path) -> Member:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        info = tarfile.TarInfo(name)
        info.size = path.stat().st_size
        info.mode = 0o600
        with path.open("rb") as source:
            self.tar.addfile(info, source)
        member = Member(name, info.size, digest.hexdigest())
        self.members.append(member)
        return member

    def add_bytes(self, name: str, data: bytes, *, listed: bool = True) -> Member:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        self.tar.addfile(info, io.BytesIO(data))
        member = Member(name, len(data), hashlib.sha256(data).hexdigest())
        if listed:
            self.members.append(member)
        return member


def verify(path: Path) -> Manifest:
    """Read the whole archive and check it; the manifest of a sound archive, else :class:`BackupError`."""
    seen: dict[str, Member] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if not info.isfile():
                    raise BackupError(f"{path.name}: unexpected entry {info.name!r} (not a Lakeplane backup)")
                source = tar.extractfile(info)
                assert source is not None
                if info.name == MANIFEST:
                    manifest_bytes = source.read()
                    continue
                digest = hashlib.sha256()
                size = 0
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                if size != info.size:
                    raise BackupError(f"{path.name} is truncated inside {info.name}")
                seen[info.name] = Member(info.name, size, digest.hexdigest())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(
            f"{path.name} is not a readable backup archive (corrupt or truncated: {exc})"
        ) from None
    if manifest_bytes is None:
        raise BackupError(f"{path.name} has no manifest: truncated, or not a Lakeplane backup")
    try:
        manifest = msgspec.json.decode(manifest_bytes, type=Manifest)
    except msgspec.DecodeError as exc:
        raise BackupError(f"{path.name}: the manifest is unreadable ({exc})") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{path.name}: archive format {manifest.format}, this release reads {FORMAT}")
    listed = {m.name: m for m in manifest.members}
    for name, member in listed.items():
        found = seen.get(name)
        if found is None:
            raise BackupError(f"{path.name}: {name} is listed in the manifest but missing")
        if found.sha256 != member.sha256 or found.size != member.size:
            raise BackupError(
                f"{path.name}: checksum mismatch for {name}; the archive was altered or damaged"
            )
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise BackupError(f"{path.name}: {extra[0]} is not in the manifest; the archive was altered")
    if DUMP not in listed:
        raise BackupError(f"{path.name} holds no database dump")
    if manifest.schema_revision not in known_revisions():
        raise BackupError(
            f"{path.name} comes from schema revision {manifest.schema_revision}, newer than this "
            "release knows; restore it with the release that made it, or a later one"
        )
    return manifest


def encode_manifest(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2)


def describe_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def as_dict(manifest: Manifest) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(manifest)
    return result
