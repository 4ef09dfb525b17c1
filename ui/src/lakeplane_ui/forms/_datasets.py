"""The dataset form: registering a table and editing what people say about it."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from lakeplane.domain.datasets.schemas import DatasetCreate, DatasetUpdate


def split_tags(text: str) -> list[str]:
    return sorted({t.strip() for t in text.replace(";", ",").split(",") if t.strip()})


@dataclasses.dataclass
class DatasetForm:
    """A posted dataset form. Both the register and the edit form send owner, tags and
    description; registering adds the table's name and where to find it."""

    sent: dict[str, Any]

    def _described(self) -> dict[str, Any]:
        return {
            "owner": str(self.sent.get("owner", "")).strip(),
            "tags": split_tags(str(self.sent.get("tags", ""))),
            "description": str(self.sent.get("description", "")),
        }

    def create(self) -> DatasetCreate:
        """The table by its ``location``, or by a catalog connection, namespace and table."""
        form = self.sent
        payload: dict[str, Any] = {"name": str(form.get("name", "")).strip(), **self._described()}
        if form.get("connection_id"):
            payload.update(
                connection_id=form["connection_id"],
                namespace=str(form.get("namespace", "")).split("."),
                table=form.get("table"),
            )
        if str(form.get("location", "")).strip():
            payload["location"] = str(form["location"]).strip()
        return msgspec.convert(payload, DatasetCreate)

    def update(self) -> DatasetUpdate:
        return msgspec.convert(self._described(), DatasetUpdate)
