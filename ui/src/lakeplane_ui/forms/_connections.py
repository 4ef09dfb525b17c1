"""The connection form, read the same way for a new connection and for an edit of one."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import msgspec

from lakeplane.domain.connections.schemas import ConnectionCreate, ConnectionUpdate
from lakeplane.errors import Conflict, EndpointRefused, ValidationFailed
from lakeplane_ui.forms._fields import FormField, errors_by_field, field_errors, parse


@dataclasses.dataclass
class ConnectionForm:
    """A posted connection form, its ``p.<param>`` inputs read against the plugin's ``fields``.
    ``errors`` holds the refusals of the form itself, by input."""

    sent: dict[str, Any]
    fields: list[FormField]
    name: str
    params: dict[str, Any]
    errors: dict[str, str]

    #: What saving a connection can raise that the form shows next to its fields.
    SAVE_ERRORS: ClassVar[tuple[type[ValidationFailed], type[EndpointRefused], type[Conflict]]] = (
        ValidationFailed,
        EndpointRefused,
        Conflict,
    )

    @classmethod
    def read(cls, sent: dict[str, Any], fields: list[FormField], *, new: bool) -> ConnectionForm:
        """On an edit a blank secret keeps the stored one and a blank optional input clears it."""
        params, errors = parse(fields, sent, "p", keep_blank_secrets=not new)
        name = str(sent.get("name", "")).strip()
        if new and not name:
            errors["name"] = "required"
        if not new:
            for f in fields:
                key = f"p.{f.name}"
                if f.kind != "secret" and key in sent and not str(sent[key]).strip() and not f.required:
                    params.setdefault(f.name, None)
        return cls(sent, fields, name, params, errors)

    def create(self, kind: str, plugin: str) -> ConnectionCreate:
        data = ConnectionCreate(
            name=self.name,
            kind=kind,  # type: ignore[arg-type]
            plugin=plugin,
            params=self.params,
            description=str(self.sent.get("description", "")),
        )
        return msgspec.convert(msgspec.to_builtins(data), ConnectionCreate)

    def update(self, stored: set[str]) -> ConnectionUpdate:
        """Only parameters that are set, or ``None`` for one of the ``stored`` to clear it."""
        return ConnectionUpdate(
            name=self.name or None,
            description=self.sent.get("description"),
            params={k: v for k, v in self.params.items() if not (v is None and k not in stored)},
        )

    @staticmethod
    def save_errors(exc: ValidationFailed | EndpointRefused | Conflict) -> dict[str, str]:
        """A refused save's errors by input: a parameter's under ``p.``, a taken name under ``name``."""
        errors = errors_by_field(field_errors(exc) if isinstance(exc, ValidationFailed) else {}, "p")
        if isinstance(exc, Conflict):
            errors["name"] = exc.detail
        return errors
