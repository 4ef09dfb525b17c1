"""The job editor's form, read the same way for a new job and for a new version of one."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, get_args

import msgspec

from lakeplane.domain.jobs import services
from lakeplane.domain.jobs.schemas import JobCreate, JobUpdate, ParameterType
from lakeplane.errors import Conflict, NotFound, ValidationFailed
from lakeplane.interfaces import Engine
from lakeplane.runtime import Services
from lakeplane_ui.forms import _fields
from lakeplane_ui.forms._fields import FormField

PARAMETER_TYPES: tuple[str, ...] = get_args(ParameterType)
BLANK_PARAMETER_ROWS = 2
#: The settings beside the definition, each with the type its text must read as.
NUMBERS = (("max_attempts", int), ("retry_backoff_s", float), ("timeout_s", float), ("max_concurrency", int))

#: What saving a job can raise that the form shows next to its fields.
JobSaveError = msgspec.ValidationError | ValidationFailed | Conflict | NotFound


@dataclasses.dataclass(frozen=True)
class JobTypes:
    """Job types by label, as the engines name them: those an enabled engine runs, and
    those of every installed engine (a type of an engine not enabled is shown but not offered)."""

    enabled: dict[str, str]
    known: dict[str, str]

    @classmethod
    def of(cls, lp: Services) -> JobTypes:
        registry = lp.plugins.registry
        installed = [registry.get("engine", name, "engines").cls for name in registry.names("engine")]
        enabled = [selected.impl.cls for selected in lp.selection.engines.values()]
        labels: dict[str, str] = {}
        on: set[str] = set()
        for engine in [*enabled, *installed]:
            assert issubclass(engine, Engine)
            for job_type in engine.job_types:
                labels.setdefault(job_type, engine.job_type_label(job_type))
                if engine in enabled:
                    on.add(job_type)
        known = dict(sorted(labels.items(), key=lambda item: item[1]))
        return cls(enabled={t: label for t, label in known.items() if t in on}, known=known)


def _parameter_indexes(form: dict[str, Any]) -> list[int]:
    return sorted(
        {int(k.split(".")[1]) for k in form if k.startswith("param.") and k.split(".")[1].isdigit()}
    )


def _parse_parameters(form: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows ``param.N.name/type/default/required``; a row without a name is ignored."""
    declared, errors = [], {}
    for i in _parameter_indexes(form):
        name = str(form.get(f"param.{i}.name", "")).strip()
        if not name:
            continue
        kind = str(form.get(f"param.{i}.type", "string"))
        default_text = str(form.get(f"param.{i}.default", ""))
        spec: dict[str, Any] = {
            "name": name,
            "type": kind,
            "required": bool(form.get(f"param.{i}.required")),
            "description": str(form.get(f"param.{i}.description", "")),
        }
        if default_text != "":
            try:
                spec["default"] = services.coerce(kind, default_text)
            except (ValueError, TypeError) as exc:
                errors[f"param.{i}.default"] = str(exc) or f"not a valid {kind}"
        declared.append(spec)
    return declared, errors


def _settings(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Queue, connection and the numbers; a blank number is ``None``."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, kind in NUMBERS:
        text = str(form.get(key, "")).strip()
        if text == "":
            values[key] = None
            continue
        try:
            values[key] = kind(text)
        except ValueError:
            errors[key] = "a number"
    values["queue"] = str(form.get("queue", "")).strip() or "default"
    values["connection_id"] = str(form.get("connection_id", "")).strip() or None
    return values, errors


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclasses.dataclass
class JobForm:
    """What the job editor posted, read and checked: for a new job (:meth:`create`) and for a
    new version (:meth:`update`) alike. ``errors`` holds the refusals of the form itself, by input."""

    sent: dict[str, Any]
    job_type: str
    name: str
    definition: dict[str, Any]
    parameters: list[dict[str, Any]]
    settings: dict[str, Any]
    errors: dict[str, str]

    SAVE_ERRORS: ClassVar[
        tuple[type[msgspec.ValidationError], type[ValidationFailed], type[Conflict], type[NotFound]]
    ] = (
        msgspec.ValidationError,
        ValidationFailed,
        Conflict,
        NotFound,
    )

    @staticmethod
    def fields(lp: Services, job_type: str) -> list[FormField]:
        """The definition's inputs, from the spec Struct of the engine that runs ``job_type``."""
        selected = services.engine_for(lp, job_type)
        return _fields.struct_fields(services.engine_class(selected).spec_type(job_type))

    @classmethod
    def read(cls, sent: dict[str, Any], job_type: str, fields: list[FormField], *, new: bool) -> JobForm:
        """``fields`` are the definition's inputs (:meth:`fields`); a new job must be named."""
        definition, errors = _fields.parse(fields, sent, "d")
        parameters, parameter_errors = _parse_parameters(sent)
        settings, settings_errors = _settings(sent)
        errors.update(parameter_errors)
        errors.update(settings_errors)
        name = str(sent.get("name", "")).strip()
        if new and not name:
            errors["name"] = "required"
        return cls(sent, job_type, name, definition, parameters, settings, errors)

    @staticmethod
    def of_version(job: Any, version: Any, tag: str) -> dict[str, str]:
        """The inputs of the editor for a stored version, as it would post them back."""
        sent = {f"d.{k}": _input_text(v) for k, v in version.definition.items() if v is not None}
        sent.update(
            {
                "name": job.name,
                "queue": version.queue,
                "max_attempts": str(version.max_attempts),
                "retry_backoff_s": f"{version.retry_backoff_s:g}",
                "timeout_s": f"{version.timeout_s:g}" if version.timeout_s else "",
                "max_concurrency": str(version.max_concurrency or ""),
                "connection_id": version.connection_id or "",
                "etag": tag,
            }
        )
        return sent

    def create(self) -> JobCreate:
        """A new job; a blank setting takes the schema's default."""
        return msgspec.convert(
            {
                "name": self.name,
                "type": self.job_type,
                "definition": self.definition,
                "parameters": self.parameters,
                **{k: v for k, v in self.settings.items() if v is not None},
            },
            JobCreate,
        )

    def update(self) -> JobUpdate:
        """A new version; a blank name, attempts or backoff keeps the current one, while a blank
        connection, timeout or concurrency clears it."""
        keep_when_blank = ("max_attempts", "retry_backoff_s")
        settings = {k: v for k, v in self.settings.items() if v is not None or k not in keep_when_blank}
        return msgspec.convert(
            {
                "name": self.name or None,
                "definition": self.definition,
                "parameters": self.parameters,
                **settings,
            },
            JobUpdate,
        )

    @property
    def if_match(self) -> str | None:
        return _fields.if_match(self.sent)

    @staticmethod
    def parameter_rows(declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The parameter table's rows: those declared, then blank ones to add more."""
        return [*declared, *({} for _ in range(BLANK_PARAMETER_ROWS))]

    @staticmethod
    def rows_as_sent(sent: dict[str, Any]) -> list[dict[str, Any]]:
        """The parameter rows of a refused form, each as it was typed."""
        return [
            {
                "name": sent.get(f"param.{i}.name", ""),
                "type": sent.get(f"param.{i}.type", "string"),
                "default": sent.get(f"param.{i}.default", ""),
                "required": bool(sent.get(f"param.{i}.required")),
                "description": sent.get(f"param.{i}.description", ""),
            }
            for i in _parameter_indexes(sent)
        ]

    @staticmethod
    def save_errors(exc: JobSaveError) -> tuple[dict[str, str], str]:
        """The field errors and the message of a refused save."""
        if isinstance(exc, msgspec.ValidationError):
            return _fields.struct_errors(exc, "name"), _fields.FIX_FIELDS
        errors = (
            _fields.errors_by_field(_fields.field_errors(exc), "d")
            if isinstance(exc, ValidationFailed)
            else {}
        )
        if isinstance(exc, Conflict):
            errors["name"] = exc.detail
        return errors, exc.detail
