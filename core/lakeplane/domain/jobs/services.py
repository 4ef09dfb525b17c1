# Long module: job creation, versioning and parameter checking are one rule set that the submit path reuses.
"""Jobs and their immutable versions.

A job's definition is checked by decoding it into the spec type of the engine that
the config enables for the job type, so a job that the worker could not hand to its
engine is refused at creation, not at 3 a.m. Declared parameters are checked again
at every submit; their values only ever reach SQL as bind values or as identifiers
that passed :data:`IDENTIFIER`, handed to the engine as
:class:`~lakeplane.interfaces.Identifier` (the engine checks and quotes them again).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.config import config_error
from lakeplane.db.models import Job, JobVersion
from lakeplane.db.pagination import fetch_page, select_rows
from lakeplane.domain import audit, resources
from lakeplane.domain.connections import services as connections
from lakeplane.domain.datasets import services as datasets
from lakeplane.domain.jobs.schemas import JobCreate, JobOut, JobUpdate, JobVersionOut, ParameterSpec
from lakeplane.errors import Conflict, NotFound, ValidationFailed
from lakeplane.ids import new_id
from lakeplane.interfaces import Engine, Identifier, MaintenanceSpec
from lakeplane.plugins import Selected
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow

#: One to three dot-separated plain identifiers (``table``, ``schema.table``, ``catalog.schema.table``).
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,2}")
INTEGER = re.compile(r"[+-]?\d{1,19}")
MAX_STRING = 65_536
#: What a job version holds, as given at creation and kept or replaced by an update.
VERSIONED = (
    "definition",
    "parameters",
    "connection_id",
    "queue",
    "max_concurrency",
    "max_attempts",
    "retry_backoff_s",
    "timeout_s",
)


def version_out(version: JobVersion | Row[Any]) -> JobVersionOut:
    return resources.to_struct(
        JobVersionOut, version, definition=dict(version.definition), parameters=list(version.parameters)
    )


def to_out(job: Job | Row[Any], version: JobVersion | None = None) -> JobOut:
    return resources.to_struct(JobOut, job, version=version_out(version) if version is not None else None)


def engine_for(lp: Services, job_type: str) -> Selected:
    selected = lp.selection.engine_for_job_type(job_type)
    if selected is None:
        raise ValidationFailed(
            f"no enabled engine runs {job_type} jobs; enable one under [engines] in the config",
            [{"field": "type", "message": "no engine for this job type"}],
        )
    return selected


def engine_class(selected: Selected) -> type[Engine]:
    cls = selected.impl.cls
    assert issubclass(cls, Engine)
    return cls


def decode_spec(selected: Selected, job_type: str, definition: dict[str, Any]) -> msgspec.Struct:
    """The definition as the engine's spec Struct; field errors name ``definition.<key>``."""
    spec_type = engine_class(selected).spec_type(job_type)
    try:
        return msgspec.convert(definition, spec_type)
    except msgspec.ValidationError as exc:
        error = config_error(exc, prefix="definition")
        raise ValidationFailed(
            f"invalid {job_type} definition: {error.detail}", [{"field": error.key, "message": error.reason}]
        ) from None


def coerce(kind: str, value: Any) -> Any:
    """``value`` as a JSON-safe value of parameter type ``kind``; ``ValueError`` if it is not one."""
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError("expected a string")
        if len(value) > MAX_STRING:
            raise ValueError(f"longer than {MAX_STRING} characters")
        return value
    if kind == "integer":
        if isinstance(value, str) and INTEGER.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
            raise ValueError("expected a 64-bit integer")
        return value
    if kind == "number":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError("expected a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError("expected a date as YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError("expected a date as YYYY-MM-DD") from None
    if kind == "identifier":
        if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
            raise ValueError(
                "expected an identifier: letters, digits, underscores, up to three dot-separated parts"
            )
        return value
    raise ValueError(f"unknown parameter type {kind!r}")


def check_parameters(declared: Sequence[dict[str, Any]], given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against the declared parameters; fill defaults. Raises 422 with field errors.

    An optional parameter without a default is present as ``None`` so that every
    placeholder in the definition has a (NULL) bind value.
    """
    specs = {p["name"]: p for p in declared}
    errors = [
        {"field": f"parameters.{name}", "message": "not a declared parameter"}
        for name in sorted(set(given) - set(specs))
    ]
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        raw = given.get(name)
        if raw is None:
            raw = spec.get("default")
        if raw is None:
            if spec.get("required"):
                errors.append({"field": f"parameters.{name}", "message": "required"})
            values[name] = None
            continue
        try:
            values[name] = coerce(str(spec.get("type", "string")), raw)
        except ValueError as exc:
            errors.append({"field": f"parameters.{name}", "message": str(exc)})
    if errors:
        raise ValidationFailed(
            "invalid parameters: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors
        )
    return values


def engine_values(declared: Sequence[dict[str, Any]], stored: dict[str, Any]) -> dict[str, Any]:
    """Stored (JSON) parameter values as the typed values an engine gets: dates become ``date``,
    identifiers :class:`~lakeplane.interfaces.Identifier` (which a SQL engine quotes as a name)."""
    kinds = {p["name"]: p.get("type", "string") for p in declared}
    return {name: _engine_value(kinds.get(name), value) for name, value in stored.items()}


def _engine_value(kind: str | None, value: Any) -> Any:
    if isinstance(value, str):
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind == "identifier":
            return Identifier(value)
    return value


def _check_declared(parameters: list[ParameterSpec]) -> list[dict[str, Any]]:
    names = [p.name for p in parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationFailed(
            f"parameter(s) declared twice: {', '.join(duplicates)}",
            [{"field": "parameters", "message": f"duplicate {n}"} for n in duplicates],
        )
    for index, p in enumerate(parameters):
        if p.default is not None:
            try:
                coerce(p.type, p.default)
            except ValueError as exc:
                raise ValidationFailed(
                    f"default of parameter {p.name!r}: {exc}",
                    [{"field": f"parameters[{index}].default", "message": str(exc)}],
                ) from None
    return [msgspec.to_builtins(p) for p in parameters]


async def _check_version(
    db: AsyncSession,
    lp: Services,
    workspace_id: str,
    job_type: str,
    definition: dict[str, Any],
    connection_id: str | None,
    queue: str,
) -> None:
    selected = engine_for(lp, job_type)
    spec = decode_spec(selected, job_type, definition)
    if isinstance(spec, MaintenanceSpec):
        await datasets.resolve_maintenance(db, workspace_id, spec)
    if queue not in lp.config.worker.queues:
        raise ValidationFailed(
            f"unknown queue {queue!r} (configured: {', '.join(sorted(lp.config.worker.queues))})",
            [{"field": "queue", "message": "not a configured queue"}],
        )
    if connection_id is not None:
        conn = await connections.get(db, workspace_id, connection_id)
        if conn.kind != "engine" or conn.plugin != selected.impl.name:
            raise ValidationFailed(
                f"{job_type} jobs need a {selected.impl.name} engine connection; "
                f"{conn.name!r} is a {conn.plugin} {conn.kind}",
                [{"field": "connection_id", "message": "wrong kind of connection"}],
            )
        return
    try:
        msgspec.convert({}, selected.impl.cls.Params)
    except msgspec.ValidationError:
        raise ValidationFailed(
            f"{job_type} jobs need connection_id: a {selected.impl.name} engine connection",
            [{"field": "connection_id", "message": "required for this job type"}],
        ) from None


async def create(
    db: AsyncSession, lp: Services, actor: audit.Actor, workspace_id: str, data: JobCreate
) -> tuple[Job, JobVersion]:
    declared = _check_declared(data.parameters)
    await _check_version(db, lp, workspace_id, data.type, data.definition, data.connection_id, data.queue)
    await db.rollback()
    job = Job(
        id=new_id("job"),
        workspace_id=workspace_id,
        name=data.name,
        type=data.type,
        current_version=1,
        created_by=actor.id,
    )
    fields = {name: getattr(data, name) for name in VERSIONED} | {"parameters": declared}
    version = JobVersion(id=new_id("jv"), job_id=job.id, version=1, created_by=actor.id, **fields)
    details = {"name": job.name, "type": job.type, "version": 1}
    await resources.insert(
        db,
        actor,
        audit.Entry.on("job.create", job.id, workspace_id, details=details),
        job,
        version,
        conflict=_name_taken(data.name),
    )
    return job, version


async def get(db: AsyncSession, workspace_id: str, job_id: str, *, for_update: bool = False) -> Job:
    return await resources.get(db, Job, workspace_id, job_id, "job", for_update=for_update)


def _name_taken(name: str | None) -> str:
    return f"a job named {name!r} already exists in this workspace"


async def get_version(db: AsyncSession, job_id: str, version: int) -> JobVersion:
    found = await db.scalar(
        select(JobVersion).where(JobVersion.job_id == job_id, JobVersion.version == version)
    )
    if found is None:
        raise NotFound(f"job {job_id!r} has no version {version}")
    return found


async def update(
    db: AsyncSession,
    lp: Services,
    actor: audit.Actor,
    workspace_id: str,
    job_id: str,
    data: JobUpdate,
    if_match: str | None = None,
) -> tuple[Job, JobVersion]:
    try:
        async with db.begin():
            job = await resources.locked(db, Job, workspace_id, job_id, "job", if_match, to_out)
            current = await get_version(db, job.id, job.current_version)
            fields: dict[str, Any] = {name: getattr(current, name) for name in VERSIONED}
            changed: list[str] = []
            for name in fields:
                value = getattr(data, name)
                if value is msgspec.UNSET or (
                    value is None and name not in ("connection_id", "max_concurrency", "timeout_s")
                ):
                    continue
                if name == "parameters":
                    value = _check_declared(value)
                if value != fields[name]:
                    fields[name] = value
                    changed.append(name)
            if changed:
                await _check_version(
                    db,
                    lp,
                    workspace_id,
                    job.type,
                    fields["definition"],
                    fields["connection_id"],
                    fields["queue"],
                )
                current = JobVersion(
                    id=new_id("jv"),
                    job_id=job.id,
                    version=job.current_version + 1,
                    created_by=actor.id,
                    **fields,
                )
                db.add(current)
                job.current_version = current.version
            changed += resources.apply(job, name=data.name, archived=data.archived)
            job.updated_at = utcnow()
            await db.flush()
            details = {"changed": changed, "version": job.current_version}
            await audit.record(db, actor, audit.Entry.on("job.update", job.id, workspace_id, details=details))
    except IntegrityError:
        raise Conflict(_name_taken(data.name)) from None
    return job, current


async def list_jobs(
    db: AsyncSession, workspace_id: str, cursor: str | None, limit: int, include_archived: bool = False
) -> Sequence[Row[Any]]:
    query = select_rows(Job).where(Job.workspace_id == workspace_id)
    if not include_archived:
        query = query.where(Job.archived.is_(False))
    return await fetch_page(db, query, Job.id, cursor, limit)


async def list_versions(
    db: AsyncSession, workspace_id: str, job_id: str, cursor: str | None, limit: int
) -> Sequence[Row[Any]]:
    await get(db, workspace_id, job_id)
    query = select_rows(JobVersion).where(JobVersion.job_id == job_id)
    return await fetch_page(db, query, JobVersion.id, cursor, limit, newest_first=True)
