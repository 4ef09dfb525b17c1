# Long module: a backup and its restore share the archive, location and log-copy steps, and read best side by side.
"""``lakeplane backup`` and ``lakeplane restore``: the metadata database and the run logs.

A backup is built in a temporary file and only then moved into place (a directory) or
uploaded (an S3 bucket, through the platform object store's plugin and credentials; a
failed upload leaves no object behind). Retention then removes older archives of the
same destination.

A restore checks everything before it writes anything: the archive (see
:func:`lakeplane.backup.archive.verify`), the keys the stored secrets need, the
PostgreSQL version, and that the target holds no data (unless ``force``). The database
is then replaced in one transaction (``pg_restore`` piped into ``psql``, committed only
when the whole dump went through), the run logs are put back, the schema is migrated to this
release's head, and the restore is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy import func, select, text
from sqlalchemy import table as table_clause
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lakeplane import __version__
from lakeplane import config as config_module
from lakeplane.backup import archive
from lakeplane.backup.pgtools import BackupError, PgTarget, find_tool, first_error, run_tool
from lakeplane.config import Config
from lakeplane.db import migrate
from lakeplane.db.engine import create_engine
from lakeplane.domain import audit
from lakeplane.domain.runs import logstore
from lakeplane.errors import ConfigError, LakeplaneError
from lakeplane.interfaces import ObjectStore
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow

Progress = Callable[[str], None]
LOG_PREFIX = "runs/"
S3_SCHEME = "s3://"


def _quiet(_: str) -> None:
    pass


# -- destinations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """A directory, or ``s3://bucket/prefix`` in the platform object store's service."""

    raw: str

    @property
    def is_s3(self) -> bool:
        return self.raw.startswith(S3_SCHEME)

    @property
    def bucket(self) -> str:
        return self.raw[len(S3_SCHEME) :].partition("/")[0]

    @property
    def prefix(self) -> str:
        rest = self.raw[len(S3_SCHEME) :].partition("/")[2].strip("/")
        return f"{rest}/" if rest else ""

    @property
    def directory(self) -> Path:
        return Path(self.raw).expanduser()

    def child(self, name: str) -> str:
        if self.is_s3:
            return f"{S3_SCHEME}{self.bucket}/{self.prefix}{name}"
        return str(self.directory / name)


def parse_location(raw: str) -> Location:
    location = Location(raw)
    if location.is_s3 and not location.bucket:
        raise BackupError(f"{raw}: no bucket named (s3://BUCKET/PREFIX)")
    return location


@contextlib.asynccontextmanager
async def _store(lp: Services) -> AsyncIterator[ObjectStore]:
    async with logstore.platform_store(lp) as store:
        yield store


# -- backup ----------------------------------------------------------------------------------


@dataclass
class BackupResult:
    location: str
    size: int
    manifest: archive.Manifest
    removed: list[str]
    seconds: float


async def backup(
    config: Config,
    destination: str,
    *,
    keep_last: int | None = None,
    keep_days: float | None = None,
    progress: Progress = _quiet,
) -> BackupResult:
    started = time.monotonic()
    where = parse_location(destination)
    engine = create_engine(config.database)
    # Loading the plugins takes a while: it goes on beside the dump.
    loading = asyncio.ensure_future(asyncio.to_thread(Services.build, config))
    try:
        if where.is_s3:
            await _check_bucket(await loading, where)
        else:
            where.directory.mkdir(parents=True, exist_ok=True)
        async with engine.connect() as conn:
            facts = await _database_facts(conn)
        created = utcnow()
        name = archive.archive_name(created)
        workdir = Path(
            tempfile.mkdtemp(prefix=".lakeplane-backup-", dir=None if where.is_s3 else where.directory)
        )
        try:
            dump = workdir / archive.DUMP
            progress("backup: dumping the metadata database")
            t0 = time.monotonic()
            target = PgTarget.from_url(config.database.url)
            tool = find_tool("pg_dump", facts["major"])
            dumping = run_tool(
                [str(tool), "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"], target
            )
            # Counted beside the dump, which holds its own snapshot: the counts are for reading only.
            _, counts = await asyncio.gather(dumping, _counts(engine))
            progress(
                f"backup: database dumped ({archive.describe_size(dump.stat().st_size)}, "
                f"{time.monotonic() - t0:.1f}s)"
            )
            partial = workdir / "archive.tar"
            with tarfile.open(partial, mode="w:", format=tarfile.PAX_FORMAT) as tar:
                writer = archive.ArchiveWriter(tar)
                writer.add_file(archive.DUMP, dump)
                dump.unlink()
                writer.add_bytes(archive.CONFIG, _masked_config(config))
                lp = await loading
                log_bucket = await _add_logs(lp, writer, progress)
                manifest = archive.Manifest(
                    format=archive.FORMAT,
                    lakeplane_version=__version__,
                    created_at=created.isoformat(),
                    schema_revision=facts["revision"],
                    postgres_major=facts["major"],
                    keys={
                        key_id: archive.key_fingerprint(config.security.encryption_keys[key_id])
                        for key_id in facts["key_ids"]
                        if key_id in config.security.encryption_keys
                    },
                    counts=counts,
                    log_bucket=log_bucket,
                    members=writer.members,
                )
                writer.add_bytes(archive.MANIFEST, archive.encode_manifest(manifest), listed=False)
            size = partial.stat().st_size
            location = where.child(name)
            if where.is_s3:
                progress(f"backup: uploading {archive.describe_size(size)} to {location}")
                await _upload(lp, where, name, partial)
            else:
                os.replace(partial, where.directory / name)
            progress(f"backup: wrote {location} ({archive.describe_size(size)})")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        removed = await apply_retention(lp, where, keep_last=keep_last, keep_days=keep_days, keep=name)
        for old in removed:
            progress(f"backup: removed {old} (retention)")
        return BackupResult(location, size, manifest, removed, time.monotonic() - started)
    finally:
        await engine.dispose()
        with contextlib.suppress(Exception):
            await (await loading).engine.dispose()


async def _database_facts(conn: AsyncConnection) -> dict[str, Any]:
    revision = await migrate.current_revision(conn)
    if revision is None:
        raise BackupError("the metadata database has no Lakeplane schema (run `lakeplane migrate` first)")
    await migrate.require_current(conn, "lakeplane backup")
    version = int(await conn.scalar(text("SHOW server_version_num")) or 0)
    key_ids = (
        await conn.scalars(
            text(
                "SELECT DISTINCT e.value->>'k' FROM connections, jsonb_each(secrets) AS e WHERE e.value ? 'k'"
            )
        )
    ).all()
    return {
        "revision": revision,
        "major": version // 10000,
        "key_ids": sorted(str(k) for k in key_ids),
    }


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return await table_counts(conn)


async def user_tables(conn: AsyncConnection) -> list[str]:
    rows = await conn.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
    )
    return sorted(rows.all())


async def table_counts(conn: AsyncConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in await user_tables(conn):
        counts[name] = int(await conn.scalar(select(func.count()).select_from(table_clause(name))) or 0)
    return counts


def _masked_config(config: Config) -> bytes:
    data = config_module.masked(config_module.to_dict(config))
    return msgspec.json.format(msgspec.json.encode(data), indent=2)


async def _add_logs(lp: Services, writer: archive.ArchiveWriter, progress: Progress) -> str | None:
    try:
        bucket = logstore.bucket(lp)
    except ConfigError:
        progress("backup: no object store bucket configured, no run logs to keep")
        return None
    count = 0
    total = 0
    async with _store(lp) as store:
        async for info in store.list_objects(bucket, LOG_PREFIX):
            data = await store.read_all(bucket, info.key)
            writer.add_bytes(archive.LOGS + info.key, data)
            count += 1
            total += len(data)
            if count % 500 == 0:
                progress(f"backup: {count} run logs ({archive.describe_size(total)})")
    progress(f"backup: {count} run logs ({archive.describe_size(total)}) from bucket {bucket}")
    return bucket


async def _check_bucket(lp: Services, where: Location) -> None:
    try:
        async with _store(lp) as store:
            async for _ in store.list_objects(where.bucket, where.prefix):
                break
    except LakeplaneError as exc:
        raise BackupError(f"cannot write to {where.raw}: {exc.detail}") from None


def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as source:
            while chunk := await asyncio.to_thread(source.read, 8 << 20):
                yield chunk

    return chunks()


async def _upload(lp: Services, where: Location, name: str, path: Path) -> None:
    key = where.prefix + name
    try:
        async with _store(lp) as store:
            await store.put_object(where.bucket, key, _file_chunks(path), content_type="application/x-tar")
    except LakeplaneError as exc:
        with contextlib.suppress(Exception):
            async with _store(lp) as store:
                await store.delete_object(where.bucket, key)
        raise BackupError(
            f"upload to {where.child(name)} failed, nothing was kept there: {exc.detail}"
        ) from None


# -- retention -------------------------------------------------------------------------------


def to_remove(
    names: list[str], *, keep_last: int | None, keep_days: float | None, now: dt.datetime, keep: str
) -> list[str]:
    """Archives neither among the newest ``keep_last`` nor younger than ``keep_days``."""
    if keep_last is None and keep_days is None:
        return []
    dated = sorted(((t, n) for n in names if (t := archive.archive_time(n)) is not None), reverse=True)
    doomed = []
    for index, (at, name) in enumerate(dated):
        if name == keep:
            continue
        kept_by_count = keep_last is not None and index < keep_last
        kept_by_age = keep_days is not None and now - at < dt.timedelta(days=keep_days)
        if not (kept_by_count or kept_by_age):
            doomed.append(name)
    return doomed


async def apply_retention(
    lp: Services, where: Location, *, keep_last: int | None, keep_days: float | None, keep: str
) -> list[str]:
    if keep_last is None and keep_days is None:
        return []
    if where.is_s3:
        async with _store(lp) as store:
            names = [
                info.key[len(where.prefix) :]
                async for info in store.list_objects(where.bucket, where.prefix)
                if "/" not in info.key[len(where.prefix) :]
            ]
            doomed = to_remove(names, keep_last=keep_last, keep_days=keep_days, now=utcnow(), keep=keep)
            for name in doomed:
                await store.delete_object(where.bucket, where.prefix + name)
    else:
        names = [p.name for p in where.directory.iterdir() if p.is_file()]
        doomed = to_remove(names, keep_last=keep_last, keep_days=keep_days, now=utcnow(), keep=keep)
        for name in doomed:
            (where.directory / name).unlink(missing_ok=True)
    return [where.child(name) for name in doomed]


# -- restore ---------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    manifest: archive.Manifest
    logs: int
    migrated_to: str
    seconds: float


@contextlib.contextmanager
def _local_copy_dir() -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="lakeplane-restore-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def restore(
    config: Config,
    source: str,
    *,
    force: bool = False,
    verify_only: bool = False,
    progress: Progress = _quiet,
) -> RestoreResult:
    started = time.monotonic()
    where = parse_location(source)
    lp = Services.build(config)
    try:
        with _local_copy_dir() as workdir:
            if where.is_s3:
                path = workdir / "archive.tar"
                await _download(lp, where, path, progress)
            else:
                path = _existing_file(source)
            progress(f"restore: checking {path.name} ({archive.describe_size(path.stat().st_size)})")
            manifest = await asyncio.to_thread(archive.verify, path)
            progress(
                f"restore: archive sound: made {manifest.created_at} at schema {manifest.schema_revision}, "
                f"{manifest.counts.get('runs', 0)} runs, {len(manifest.members) - 2} run logs"
            )
            _check_keys(config, manifest)
            async with lp.engine.connect() as conn:
                major = int(await conn.scalar(text("SHOW server_version_num")) or 0) // 10000
                await migrate.require_current(conn, "lakeplane restore")
                holding = {t: n for t, n in (await table_counts(conn)).items() if n}
            if manifest.postgres_major > major:
                raise BackupError(
                    f"the archive was dumped from PostgreSQL {manifest.postgres_major}; "
                    f"the target runs {major}, which cannot read it"
                )
            restore_tool = find_tool("pg_restore", major)
            psql = find_tool("psql", major)
            log_names = [m.name for m in manifest.members if m.name.startswith(archive.LOGS)]
            target_bucket = logstore.bucket(lp) if log_names else None
            existing_logs = await _existing_logs(lp, target_bucket) if target_bucket else 0
            if (holding or existing_logs) and not force:
                what = ", ".join(f"{n} {t}" for t, n in sorted(holding.items())[:4])
                if existing_logs:
                    what = f"{what}, {existing_logs}+ run logs" if what else f"{existing_logs}+ run logs"
                raise BackupError(f"the target is not empty ({what}); pass --force to replace it")
            if verify_only:
                return RestoreResult(manifest, 0, manifest.schema_revision, time.monotonic() - started)
            progress("restore: replacing the metadata database (one transaction)")
            target = PgTarget.from_url(config.database.url)
            await asyncio.to_thread(_pipe_restore, path, restore_tool, psql, target, workdir)
            logs = await _put_logs(lp, path, target_bucket, log_names, progress) if target_bucket else 0
            async with lp.engine.begin() as conn:
                if target_bucket and manifest.log_bucket and manifest.log_bucket != target_bucket:
                    await conn.execute(
                        text(
                            "UPDATE runs SET log_uri = replace(log_uri, :old, :new) WHERE log_uri LIKE :like"
                        ),
                        {
                            "old": f"{logstore.SCHEME}{manifest.log_bucket}/",
                            "new": f"{logstore.SCHEME}{target_bucket}/",
                            "like": f"{logstore.SCHEME}{manifest.log_bucket}/%",
                        },
                    )
        head = migrate.head_revision()
        if manifest.schema_revision != head:
            progress(f"restore: migrating from {manifest.schema_revision} to {head}")
            await asyncio.to_thread(migrate.upgrade, config.database.url)
        async with lp.sessions() as db, db.begin():
            await audit.record(
                db,
                audit.Actor.system("lakeplane restore"),
                audit.Entry(
                    "system.restore",
                    details={
                        "archive": Path(source).name,
                        "created_at": manifest.created_at,
                        "schema_revision": manifest.schema_revision,
                        "runs": manifest.counts.get("runs", 0),
                        "replaced_data": bool(holding or existing_logs),
                    },
                ),
            )
        progress(f"restore: done, {manifest.counts.get('runs', 0)} runs and {logs} run logs back")
        return RestoreResult(manifest, logs, head, time.monotonic() - started)
    finally:
        await lp.engine.dispose()


def _existing_file(source: str) -> Path:
    path = Path(source).expanduser()
    if not path.is_file():
        raise BackupError(f"no archive at {path}")
    return path


def _check_keys(config: Config, manifest: archive.Manifest) -> None:
    configured = config.security.encryption_keys
    for key_id, fingerprint in sorted(manifest.keys.items()):
        material = configured.get(key_id)
        if material is None:
            raise BackupError(
                f"the archive's connection secrets need encryption key {key_id!r}, which this config lacks; "
                "put the keys kept with the backup into security.encryption_keys"
            )
        if archive.key_fingerprint(material) != fingerprint:
            raise BackupError(
                f"encryption key {key_id!r} of this config is not the one the archive's secrets were "
                "encrypted with; use the key kept with the backup"
            )


async def _existing_logs(lp: Services, bucket: str) -> int:
    count = 0
    async with _store(lp) as store:
        async for _ in store.list_objects(bucket, LOG_PREFIX):
            count += 1
            if count >= 10:
                break
    return count


async def _download(lp: Services, where: Location, path: Path, progress: Progress) -> None:
    key = where.prefix.rstrip("/")
    progress(f"restore: downloading {where.raw}")
    try:
        async with _store(lp) as store:
            with path.open("wb") as out:
                async for chunk in store.get_object(where.bucket, key):
                    await asyncio.to_thread(out.write, chunk)
    except LakeplaneError as exc:
        raise BackupError(f"cannot read {where.raw}: {exc.detail}") from None


def _pipe_restore(path: Path, restore_tool: Path, psql: Path, target: PgTarget, workdir: Path) -> None:
    """``pg_restore`` of the dump member straight into one ``psql`` transaction.

    The transaction commits only after ``pg_restore`` ended well: a failure on either side
    leaves the target as it was.
    """
    env = target.environ()
    preamble = b"BEGIN;\nDROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
    psql_err = (workdir / "psql.err").open("w+b")
    restore_err = (workdir / "pg_restore.err").open("w+b")
    with psql_err, restore_err:
        receiver, to_psql = _piped(
            [str(psql), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            subprocess.DEVNULL,
            psql_err,
            env,
        )
        try:
            to_psql.write(preamble)
            to_psql.flush()
            producer, to_restore = _piped(
                [str(restore_tool), "--no-owner", "--no-privileges", "--file=-"], to_psql, restore_err, env
            )
            try:
                with tarfile.open(path, mode="r:") as tar:
                    member = tar.extractfile(archive.DUMP)
                    assert member is not None
                    _copy(member, to_restore)
            except BrokenPipeError:
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    to_restore.close()
            producer_rc = producer.wait()
            if producer_rc == 0:
                # Without this COMMIT, psql's end of input rolls the whole restore back.
                with contextlib.suppress(BrokenPipeError):
                    to_psql.write(b"COMMIT;\n")
        finally:
            with contextlib.suppress(BrokenPipeError):
                to_psql.close()
            receiver_rc = receiver.wait()
        if receiver_rc != 0:
            raise BackupError(f"restoring the database failed, nothing was changed: {_first_error(psql_err)}")
        if producer_rc != 0:
            raise BackupError(f"pg_restore failed: {_first_error(restore_err)}")


def _piped(
    argv: list[str], stdout: int | IO[bytes], stderr: IO[bytes], env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """A process reading its input from a pipe, and that pipe's end to write to."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, env=env)
    assert process.stdin is not None
    return process, process.stdin


def _first_error(log: IO[bytes]) -> str:
    """The first error a tool wrote to its (rewound) stderr file."""
    log.seek(0)
    return first_error(log.read().decode(errors="replace"))


def _copy(source: IO[bytes], sink: IO[bytes]) -> None:
    while chunk := source.read(archive.CHUNK):
        sink.write(chunk)


async def _put_logs(lp: Services, path: Path, bucket: str, names: list[str], progress: Progress) -> int:
    wanted = set(names)
    count = 0
    async with _store(lp) as store:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if info.name not in wanted:
                    continue
                member = tar.extractfile(info)
                assert member is not None
                await store.put_object(
                    bucket,
                    info.name[len(archive.LOGS) :],
                    member.read(),
                    content_type="text/plain; charset=utf-8",
                )
                count += 1
                if count % 500 == 0:
                    progress(f"restore: {count}/{len(names)} run logs")
    return count
