"""HTML inputs generated from a plugin's msgspec Struct (connection params, job definitions),
and what every form object reads from a post: errors by input, the ETag, date filters.

Every posted value arrives as text; :func:`parse` turns each one into the field's
type before the domain service sees it, and reports a field error next to the
input it came from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import msgspec
import msgspec.inspect as mi

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import secret_fields


@dataclasses.dataclass
class FormField:
    name: str
    label: str
    #: text, number, bool, choice, secret, textarea, json
    kind: str
    required: bool
    default: Any = None
    choices: list[str] = dataclasses.field(default_factory=list)
    nullable: bool = False
    scalar: Any = None


def _unwrap(t: mi.Type) -> tuple[mi.Type, bool]:
    if isinstance(t, mi.UnionType):
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(rest) == 1:
            return rest[0], len(rest) != len(t.types)
    return t, False


def _kind(t: mi.Type) -> tuple[str, list[str]]:
    if isinstance(t, mi.BoolType):
        return "bool", []
    if isinstance(t, mi.IntType | mi.FloatType):
        return "number", []
    if isinstance(t, mi.LiteralType):
        return "choice", [str(v) for v in t.values]
    if isinstance(t, mi.StrType):
        return ("textarea" if (t.max_length or 0) > 2000 else "text"), []
    if isinstance(t, mi.DictType | mi.ListType | mi.AnyType):
        return "json", []
    return "text", []


def struct_fields(struct_type: type[msgspec.Struct]) -> list[FormField]:
    info = mi.type_info(struct_type)
    assert isinstance(info, mi.StructType)
    secrets = secret_fields(struct_type)
    out = []
    for f in info.fields:
        inner, nullable = _unwrap(f.type)
        kind, choices = _kind(inner)
        if f.name in secrets:
            kind = "secret"
        default = None if f.default is msgspec.NODEFAULT else f.default
        if f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        if f.name == "sql":
            kind = "textarea"
        out.append(
            FormField(
                name=f.name,
                label=f.name.replace("_", " ").capitalize(),
                kind=kind,
                required=f.required,
                default=default,
                choices=choices,
                nullable=nullable,
                scalar=inner,
            )
        )
    return out


def parse(
    fields: list[FormField], form: dict[str, Any], prefix: str, *, keep_blank_secrets: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, errors)`` from ``prefix.<field>`` inputs; a blank input is left out.

    With ``keep_blank_secrets`` (editing), a blank secret means "keep the stored one",
    and a ticked ``<prefix>.<name>.clear`` box means "remove it".
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        key = f"{prefix}.{f.name}"
        raw = form.get(key)
        if f.kind == "secret" and keep_blank_secrets and form.get(f"{key}.clear"):
            values[f.name] = None
            continue
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if f.required and not (f.kind == "secret" and keep_blank_secrets):
                errors[key] = "required"
            continue
        if isinstance(raw, list):
            raw = raw[-1]
        text = raw if f.kind in ("textarea", "secret") else raw.strip()
        try:
            if f.kind == "json":
                values[f.name] = json.loads(text)
            elif f.kind in ("text", "textarea", "secret", "choice"):
                values[f.name] = text
            elif f.kind == "bool":
                if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError("not a boolean")
                values[f.name] = text.lower() in ("true", "yes", "1")
            elif isinstance(f.scalar, mi.IntType):
                values[f.name] = int(text)
            elif isinstance(f.scalar, mi.FloatType):
                values[f.name] = float(text)
            else:
                values[f.name] = text
        except (ValueError, msgspec.ValidationError) as exc:
            errors[key] = _message(exc, f)
    return values, errors


def _message(exc: Exception, f: FormField) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return "not valid JSON"
    text = str(exc).replace("`", "").replace(" - at $", "")
    if f.kind == "bool":
        return "choose yes or no"
    if f.kind == "number":
        return "a whole number" if isinstance(f.scalar, mi.IntType) else "a number"
    return text[:200]


def field_errors(exc: ValidationFailed) -> dict[str, str]:
    """``{"params.host": "not a parameter"}`` from a service's validation error."""
    errors = exc.extra.get("errors") or []
    return {str(e.get("field", "")): str(e.get("message", "")) for e in errors if isinstance(e, dict)}


def errors_by_field(service_errors: dict[str, str], prefix: str) -> dict[str, str]:
    """Map a service's ``params.host`` error onto the ``p.host`` input."""
    out = {}
    for field, message in service_errors.items():
        if field.startswith("params.") or field.startswith("definition."):
            field = prefix + "." + field.split(".", 1)[1]
        out[field] = message
    return out


#: The message above a form whose fields carry errors.
FIX_FIELDS = "Fix the fields marked below."


def struct_errors(exc: msgspec.ValidationError, default: str) -> dict[str, str]:
    """A schema's refusal (``... - at $.owner``) as the error of its top-level input,
    or of ``default`` when it names none."""
    reason, _, where = str(exc).replace("`", "").partition(" - at $.")
    return {(where.split(".")[0].split("[")[0] or default): reason}


def if_match(form: dict[str, Any]) -> str | None:
    """The ETag the form was rendered with, sent back as If-Match; None for a form without one."""
    return str(form.get("etag") or "") or None


def moment(value: str | None, field: str, *, end: bool = False) -> dt.datetime | None:
    """A ``since``/``until`` filter: a day or a moment, UTC unless it says otherwise. With
    ``end``, a day means its end, so ``until=2026-11-25`` takes in the whole day."""
    if not value:
        return None
    try:
        found = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date like 2026-11-25", [{"field": field, "message": "not a date"}]
        ) from None
    if end and len(value) == 10:
        found += dt.timedelta(days=1)
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def tag_shown(form: dict[str, Any] | None, current: str) -> str:
    """The ETag an edit form carries: the one a refused form was read with, so that it saves
    only once reloaded, else the current one."""
    return if_match(form or {}) or current
