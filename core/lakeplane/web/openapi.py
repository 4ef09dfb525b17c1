"""The OpenAPI document, completed with what the handlers' signatures cannot say.

Litestar derives paths, parameters and bodies from the handlers. This module adds,
in one place, what every route shares: the problem documents it can answer (one
``Problem`` schema under ``application/problem+json``), the statuses each route can
answer given its permission, parameters and body, the bounds of ``limit`` and the
form of ``cursor``, the ``ETag`` header and 412 of conditional
operations, the enums of values stored as text, and the security schemes.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from litestar import Litestar
from litestar.openapi.spec import Components, OpenAPI, Operation, PathItem, SecurityScheme
from litestar.openapi.spec.response import OpenAPIResponse

from lakeplane.db.pagination import AUDIT_CURSOR_PATTERN, CURSOR_PATTERN, MAX_LIMIT
from lakeplane.domain.connections.schemas import ConnectionKind
from lakeplane.domain.jobs.schemas import JobType
from lakeplane.domain.runs.lifecycle import STATES
from lakeplane.domain.users.schemas import Role
from lakeplane.web.guards import permission_of
from lakeplane.web.problems import PROBLEM

__all__ = ["PROBLEM_SCHEMA", "complete"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "One entry per field that failed validation.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
STATUS_TEXT = {
    400: "The body cannot be read: not UTF-8 or JSON, too deep, a repeated key, NUL or a lone surrogate",
    401: "Not signed in, or the credential expired",
    403: "Signed in, but not allowed (role, token scope or CSRF token)",
    404: "No such resource, or not visible to the caller",
    409: "Conflicts with what is stored",
    412: "If-Match names a representation that is no longer current; nothing was changed",
    413: "The body is larger than server.max_body_bytes",
    415: "The body is not application/json",
    422: "The request does not fit the schema or the rules",
    429: "Too many attempts; retry after Retry-After seconds",
    500: "An internal error; the request id names it in the server log",
    502: "A data-plane service answered badly",
    503: "The metadata database is unavailable; retry after Retry-After seconds",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
ETAG = {
    "ETag": {
        "description": "Strong tag of the resource's current representation; send it back in If-Match",
        "schema": {"type": "string"},
    }
}
#: Operations that answer with the resource's ETag.
TAGGED = {
    "getJob",
    "updateJob",
    "getConnection",
    "updateConnection",
    "getDataset",
    "updateDataset",
    "getSchedule",
    "updateSchedule",
}
#: Operations that honour If-Match, and so may answer 412.
CONDITIONAL = {
    "updateJob",
    "updateConnection",
    "deleteConnection",
    "updateDataset",
    "unregisterDataset",
    "updateSchedule",
    "deleteSchedule",
}
#: Values stored as text, with the values they can take.
ENUMS: dict[tuple[str, str], list[str]] = {
    ("RunOut", "state"): list(STATES),
    ("TransitionOut", "to_state"): list(STATES),
    ("TransitionOut", "from_state"): list(STATES),
    ("JobOut", "type"): list(get_args(JobType)),
    ("ConnectionOut", "role"): list(get_args(ConnectionKind)),
    ("MemberOut", "role"): list(get_args(Role)),
    ("WorkspaceOut", "role"): list(get_args(Role)),
}
#: Routes that reach a data-plane service and may relay its failure as 502.
UPSTREAM = re.compile(r"/(catalog|connections/\{[^}]+\}/test|datasets|runs/\{[^}]+\}/(logs|result))")
#: Routes that count attempts and answer 429.
THROTTLED = {"/api/v1/auth/login", "/api/v1/auth/bootstrap", "/api/v1/auth/password"}
#: Public routes that refuse on their own: a wrong password (401), no bootstrap or no
#: single sign-on provider (404).
PUBLIC_REFUSALS = {
    "/api/v1/auth/login": {401},
    "/api/v1/auth/bootstrap": {404},
    "/api/v1/auth/sso/begin": {404},
    "/api/v1/auth/sso/callback": {400, 401, 404},
}
DOCS_PATHS = ("/api", "/api/openapi.json", "/api/{path}")


def complete(app: Litestar) -> OpenAPI:
    """Complete the app's OpenAPI document in place (it is served as built here) and return it."""
    document = app.openapi_schema
    handlers = _handlers(app)
    document.components = document.components or Components()
    schemas = document.components.schemas = dict(document.components.schemas or {})
    schemas["Problem"] = PROBLEM_SCHEMA  # type: ignore[assignment]
    document.components.security_schemes = {
        "bearer": SecurityScheme(type="http", scheme="bearer", description="An API token (lp_...)"),
        "session": SecurityScheme(
            type="apiKey",
            name="lakeplane_session",
            security_scheme_in="cookie",
            description="The browser session; unsafe methods also need X-CSRF-Token",
        ),
    }
    paths = document.paths or {}
    for path in DOCS_PATHS:
        paths.pop(path, None)
    for path, item in paths.items():
        for method, operation in _operations(item):
            handler = handlers.get((method, path))
            permission = str(permission_of(handler)) if handler is not None else "public"
            _complete_operation(path, method, operation, permission)
    for name in _request_schemas(document, paths):
        # Every request struct refuses unknown fields (``forbid_unknown_fields``).
        found = schemas.get(name)
        if found is not None and getattr(found, "properties", None) is not None:
            found.additional_properties = False  # type: ignore[union-attr]
    for (schema_name, field), values in ENUMS.items():
        found = schemas.get(schema_name)
        properties = getattr(found, "properties", None) or {}
        if field in properties:
            prop = properties[field]
            if getattr(prop, "one_of", None):
                prop.one_of = [
                    _with_enum(option, values) if getattr(option, "type", None) != "null" else option
                    for option in prop.one_of
                ]
            else:
                _with_enum(prop, values)
    return document


def _request_schemas(document: OpenAPI, paths: dict[str, PathItem]) -> set[str]:
    """Names of the component schemas a request body refers to, directly or nested."""
    pending: list[Any] = []
    for item in paths.values():
        for _, operation in _operations(item):
            for media in (getattr(operation.request_body, "content", None) or {}).values():
                pending.append(media.schema)
    schemas = (document.components.schemas if document.components else None) or {}
    found: set[str] = set()
    while pending:
        schema = pending.pop()
        ref = getattr(schema, "ref", None)
        if ref is not None:
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                pending.append(schemas.get(name))
            continue
        pending.extend((getattr(schema, "properties", None) or {}).values())
        for attr in ("one_of", "any_of", "all_of"):
            pending.extend(getattr(schema, attr, None) or [])
        if getattr(schema, "items", None) is not None:
            pending.append(schema.items)
    return found


def _with_enum(schema: Any, values: list[str]) -> Any:
    schema.enum = values
    return schema


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    found = {}
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                found[(method.lower(), path)] = handler
    return found


def _operations(item: PathItem) -> list[tuple[str, Operation]]:
    methods = ("get", "put", "post", "delete", "patch")
    return [(m, op) for m in methods if (op := getattr(item, m, None)) is not None]


def _complete_operation(path: str, method: str, operation: Operation, permission: str) -> None:
    statuses = {422, 500, 503}
    if operation.request_body is not None:
        statuses |= {400, 413, 415}
    if permission != "public":
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if method in ("post", "put", "patch", "delete"):
        statuses.add(409)
    if UPSTREAM.search(path):
        statuses.add(502)
    if path in THROTTLED:
        statuses.add(429)
    statuses |= PUBLIC_REFUSALS.get(path, set())
    if operation.operation_id in CONDITIONAL:
        statuses.add(412)
    responses = operation.responses = {
        code: response
        for code, response in (operation.responses or {}).items()
        if not code.startswith(("4", "5"))
    }
    if operation.operation_id in TAGGED:
        for code, response in responses.items():
            if code.startswith("2") and isinstance(response, OpenAPIResponse):
                response.headers = {**(response.headers or {}), **ETAG}  # type: ignore[dict-item]
    empty = responses.get("204")
    if isinstance(empty, OpenAPIResponse):
        empty.content = None
    for status in sorted(statuses):
        responses[str(status)] = OpenAPIResponse(
            description=STATUS_TEXT[status],
            content={PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},  # type: ignore[dict-item]
            headers=RETRY_AFTER if status in (429, 503) else None,  # type: ignore[arg-type]
        )
    operation.security = [] if permission == "public" else [{"bearer": []}, {"session": []}]
    for parameter in operation.parameters or []:
        name = getattr(parameter, "name", None)
        schema = getattr(parameter, "schema", None)
        if getattr(parameter, "param_in", None) != "query" or schema is None:
            continue
        if name == "limit":
            schema.minimum, schema.maximum = 1, MAX_LIMIT
        elif name == "cursor":
            options = getattr(schema, "one_of", None) or [schema]
            for option in options:
                if getattr(option, "type", None) != "null":
                    option.pattern = (
                        AUDIT_CURSOR_PATTERN if path.startswith("/api/v1/audit") else CURSOR_PATTERN
                    )
                    option.max_length = 40
