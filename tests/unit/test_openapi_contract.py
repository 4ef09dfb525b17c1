"""The OpenAPI document against its committed snapshot, ``docs/openapi.json``.

An incompatible change (a removed route, operation id, field, parameter or enum value,
or a newly required field or parameter) fails here. So does any difference at all,
so that the snapshot always shows the current API. After a change made on purpose:

    LAKEPLANE_UPDATE_OPENAPI=1 pytest tests/unit/test_openapi_contract.py
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lakeplane.testing.app import make_config
from lakeplane.web.app import create_app

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


def current_document() -> dict[str, Any]:
    # Building the app opens no connection: any database URL does.
    app = create_app(make_config("postgresql+asyncpg://lakeplane@127.0.0.1:1/none"))
    document: dict[str, Any] = app.openapi_schema.to_schema()
    document["info"]["version"] = "snapshot"
    return json.loads(json.dumps(document, sort_keys=True))


def incompatible(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a client written against ``old`` would find broken in ``new``."""
    broken: list[str] = []
    for path, item in old.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            where = f"{method.upper()} {path}"
            after = new.get("paths", {}).get(path, {}).get(method)
            if after is None:
                broken.append(f"{where}: removed")
                continue
            if after.get("operationId") != item[method].get("operationId"):
                broken.append(
                    f"{where}: operationId {item[method].get('operationId')} became {after.get('operationId')}"
                )
            before_params = {(p["name"], p["in"]): p for p in item[method].get("parameters", [])}
            after_params = {(p["name"], p["in"]): p for p in after.get("parameters", [])}
            for key, param in after_params.items():
                if param.get("required") and not before_params.get(key, {}).get("required"):
                    broken.append(f"{where}: parameter {key[0]} is newly required")
            for key in before_params.keys() - after_params.keys():
                broken.append(f"{where}: parameter {key[0]} removed")
            for key in before_params.keys() & after_params.keys():
                broken += _schema_changes(
                    f"{where} {key[0]}",
                    before_params[key].get("schema", {}),
                    after_params[key].get("schema", {}),
                )
    old_schemas = old.get("components", {}).get("schemas", {})
    new_schemas = new.get("components", {}).get("schemas", {})
    for name, schema in old_schemas.items():
        if name not in new_schemas:
            broken.append(f"schema {name}: removed")
        else:
            broken += _schema_changes(f"schema {name}", schema, new_schemas[name])
    return broken


def _schema_changes(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    broken = []
    if "enum" in old:
        removed = set(map(str, old["enum"])) - set(map(str, new.get("enum", old["enum"])))
        if removed:
            broken.append(f"{where}: enum values removed: {sorted(removed)}")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        broken.append(f"{where}: field {name} is newly required")
    for name, prop in old.get("properties", {}).items():
        if name not in new.get("properties", {}):
            broken.append(f"{where}: field {name} removed")
        else:
            broken += _schema_changes(f"{where}.{name}", prop, new["properties"][name])
    for key in ("oneOf", "anyOf"):
        for i, (a, b) in enumerate(zip(old.get(key, []), new.get(key, []), strict=False)):
            broken += _schema_changes(f"{where}[{i}]", a, b)
    return broken


def test_the_api_stays_compatible_with_the_snapshot() -> None:
    document = current_document()
    if os.environ.get("LAKEPLANE_UPDATE_OPENAPI"):
        SNAPSHOT.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    snapshot = json.loads(SNAPSHOT.read_text())
    broken = incompatible(snapshot, document)
    assert not broken, "incompatible API changes:\n" + "\n".join(broken)
    assert document == snapshot, "the API changed: update docs/openapi.json (see this module's docstring)"


def test_every_operation_is_documented_completely() -> None:
    document = current_document()
    operations = [(p, m, item[m]) for p, item in document["paths"].items() for m in METHODS if m in item]
    assert len(operations) >= 60
    ids = [op["operationId"] for _, _, op in operations]
    assert len(set(ids)) == len(ids) and all(i[0].islower() for i in ids)
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert {"422", "500", "503"} <= set(op["responses"]), where
        for status, response in op["responses"].items():
            if status[0] in "45":
                assert list(response["content"]) == ["application/problem+json"], where
        if "requestBody" in op:
            assert {"400", "413", "415"} <= set(op["responses"]), where
        if op["security"]:
            assert {"401", "403"} <= set(op["responses"]), where
        for param in op.get("parameters", []):
            if param["name"] == "limit":
                assert (param["schema"]["minimum"], param["schema"]["maximum"]) == (1, 500), where
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["session"]["in"] == "cookie"
    assert "errors" in document["components"]["schemas"]["Problem"]["properties"]
    assert "timed_out" in document["components"]["schemas"]["RunOut"]["properties"]["state"]["enum"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["paths"].pop("/api/v1/workspaces"), "removed"),
        (
            lambda d: d["components"]["schemas"]["WorkspaceOut"]["properties"].pop("slug"),
            "field slug removed",
        ),
        (
            lambda d: d["components"]["schemas"]["RunOut"]["properties"]["state"]["enum"].remove("queued"),
            "enum",
        ),
        (
            lambda d: d["components"]["schemas"]["WorkspaceCreate"]["required"].append("description"),
            "newly required",
        ),
        (lambda d: d["paths"]["/api/v1/workspaces"]["get"].update(operationId="workspaces"), "operationId"),
    ],
)
def test_the_check_catches_each_kind_of_break(change: Any, expected: str) -> None:
    document = current_document()
    changed = copy.deepcopy(document)
    change(changed)
    assert incompatible(document, document) == []
    assert any(expected in line for line in incompatible(document, changed))
