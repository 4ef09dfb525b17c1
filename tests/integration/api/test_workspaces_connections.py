"""Workspaces and connections over HTTP, against a real Postgres and real plugins' declared params."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from lakeplane.db.models import AuditEvent, Connection

PROBLEM = "application/problem+json"


def slug() -> str:
    return "ws-" + secrets.token_hex(4)


async def make_ws(client: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/workspaces", json={"slug": slug(), "name": "Grid analytics"})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


S3_PARAMS = {
    "endpoint_url": "http://127.0.0.1:9",
    "access_key_id": "AKIDEXAMPLE",
    "secret_access_key": "very-secret-value-123",
    "region": "us-east-1",
}


async def count(lakeplane_services: Any, model: Any) -> int:
    async with lakeplane_services.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_workspace_lifecycle_and_duplicates(admin_client: Any) -> None:
    ws = await make_ws(admin_client)
    got = await admin_client.get(f"/api/v1/workspaces/{ws['slug']}")
    assert got.status_code == 200 and got.json()["id"] == ws["id"]
    dup = await admin_client.post("/api/v1/workspaces", json={"slug": ws["slug"], "name": "again"})
    assert dup.status_code == 409
    assert dup.headers["content-type"].startswith(PROBLEM)
    assert dup.json()["code"] if "code" in dup.json() else dup.json()["type"].endswith("conflict")


async def test_connection_secret_is_write_only_and_encrypted(
    admin_client: Any, lakeplane_services: Any
) -> None:
    ws = await make_ws(admin_client)
    resp = await admin_client.post(
        f"/api/v1/workspaces/{ws['id']}/connections",
        json={"name": "lake-s3", "role": "object_store", "plugin": "s3", "params": S3_PARAMS},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert "very-secret-value-123" not in resp.text
    assert body["secrets_set"] == ["secret_access_key"]
    assert "secret_access_key" not in body["params"]
    listed = await admin_client.get(f"/api/v1/workspaces/{ws['id']}/connections")
    assert "very-secret-value-123" not in listed.text
    async with lakeplane_services.sessions() as db:
        raw = await db.scalar(
            text("SELECT secrets::text FROM connections WHERE id = :id"), {"id": body["id"]}
        )
        events = (await db.scalars(select(AuditEvent).where(AuditEvent.target_id == body["id"]))).all()
    assert raw is not None and "very-secret-value-123" not in raw
    assert [e.action for e in events] == ["connection.create"]
    assert "very-secret-value-123" not in repr([e.details for e in events])

    # Updating another field keeps the secret; giving a new secret replaces it.
    patched = await admin_client.patch(
        f"/api/v1/workspaces/{ws['id']}/connections/{body['id']}", json={"params": {"region": "eu-west-1"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["params"]["region"] == "eu-west-1"
    assert patched.json()["secrets_set"] == ["secret_access_key"]


async def test_only_declared_params_and_safe_endpoints(admin_client: Any, lakeplane_services: Any) -> None:
    ws = await make_ws(admin_client)
    before = await count(lakeplane_services, Connection)
    url = f"/api/v1/workspaces/{ws['id']}/connections"

    async def s3_with(**params: Any) -> Any:
        body = {"name": "x", "role": "object_store", "plugin": "s3", "params": {**S3_PARAMS, **params}}
        return await admin_client.post(url, json=body)

    unknown = await s3_with(evil=1)
    assert unknown.status_code == 422 and "evil" in unknown.json()["detail"]
    metadata = await s3_with(endpoint_url="http://169.254.169.254/latest")
    assert metadata.status_code == 422 and metadata.json()["type"].endswith("endpoint-refused")
    file_url = await s3_with(endpoint_url="file:///etc/passwd")
    assert file_url.status_code == 422
    not_enabled = await admin_client.post(
        url, json={"name": "x", "role": "engine", "plugin": "spark", "params": {}}
    )
    assert not_enabled.status_code == 422
    assert await count(lakeplane_services, Connection) == before


async def test_connection_test_reports_failure_without_secret(admin_client: Any) -> None:
    ws = await make_ws(admin_client)
    created = await admin_client.post(
        f"/api/v1/workspaces/{ws['id']}/connections",
        json={"name": "down", "role": "object_store", "plugin": "s3", "params": S3_PARAMS},
    )
    result = await admin_client.post(f"/api/v1/workspaces/{ws['id']}/connections/{created.json()['id']}/test")
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["ok"] is False
    assert "very-secret-value-123" not in result.text
    again = await admin_client.get(f"/api/v1/workspaces/{ws['id']}/connections/{created.json()['id']}")
    assert again.json()["last_test_ok"] is False


async def test_ids_of_another_workspace_are_not_found(admin_client: Any) -> None:
    first, second = await make_ws(admin_client), await make_ws(admin_client)
    created = await admin_client.post(
        f"/api/v1/workspaces/{first['id']}/connections",
        json={"name": "c", "role": "object_store", "plugin": "s3", "params": S3_PARAMS},
    )
    conn_id = created.json()["id"]
    for method, extra in (("get", {}), ("patch", {"json": {"description": "x"}}), ("delete", {})):
        resp = await getattr(admin_client, method)(
            f"/api/v1/workspaces/{second['id']}/connections/{conn_id}", **extra
        )
        assert resp.status_code == 404, (method, resp.text)
    still = await admin_client.get(f"/api/v1/workspaces/{first['id']}/connections/{conn_id}")
    assert still.status_code == 200 and still.json()["description"] == ""


async def test_bad_bodies_are_problems(admin_client: Any, lakeplane_services: Any) -> None:
    ws = await make_ws(admin_client)
    url = f"/api/v1/workspaces/{ws['id']}/connections"
    before = await count(lakeplane_services, Connection)
    malformed = await admin_client.post(
        url, content=b"{not json", headers={"content-type": "application/json"}
    )
    wrong_type = await admin_client.post(url, json={"name": 5, "role": "object_store", "plugin": "s3"})
    unknown_field = await admin_client.post(
        url, json={"name": "a", "role": "object_store", "plugin": "s3", "x": 1}
    )
    huge = await admin_client.post(
        url, content=b"[" + b"1," * 600_000 + b"1]", headers={"content-type": "application/json"}
    )
    for resp, status in ((malformed, 400), (wrong_type, 422), (unknown_field, 422)):
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert "Traceback" not in resp.text
    assert huge.status_code == 413
    assert await count(lakeplane_services, Connection) == before


async def test_cursor_pagination_visits_every_row_once(admin_client: Any) -> None:
    ws = await make_ws(admin_client)
    url = f"/api/v1/workspaces/{ws['id']}/connections"
    for i in range(7):
        resp = await admin_client.post(
            url, json={"name": f"c{i}", "role": "object_store", "plugin": "s3", "params": S3_PARAMS}
        )
        assert resp.status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await admin_client.get(url, params=params)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"c{i}" for i in range(7)]
    assert (await admin_client.get(url, params={"limit": 0})).status_code == 422


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(["slug", "name", "description", "extra"]),
        st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.integers(), max_size=3)),
        max_size=4,
    )
)
async def test_workspace_schema_property(
    admin_client: Any, lakeplane_services: Any, body: dict[str, Any]
) -> None:
    resp = await admin_client.post("/api/v1/workspaces", json=body)
    assert resp.status_code in (201, 400, 409, 422), resp.text
    if resp.status_code != 201:
        assert resp.headers["content-type"].startswith(PROBLEM)
    else:
        assert set(body) <= {"slug", "name", "description"}


async def test_openapi_and_health(admin_client: Any) -> None:
    spec = await admin_client.get("/api/openapi.json")
    assert spec.status_code == 200 and "/api/v1/workspaces" in spec.json()["paths"]
    docs = await admin_client.get("/api/docs")
    assert docs.status_code == 200 and "createConnection" in docs.text
    assert (await admin_client.get("/health/live")).json() == {"status": "ok"}
    ready = await admin_client.get("/health/ready")
    assert ready.status_code == 200
    assert any(c["name"] == "database" and c["ok"] for c in ready.json()["components"])


async def test_plugins_listing(admin_client: Any) -> None:
    resp = await admin_client.get("/api/v1/plugins")
    names = {(p["role"], p["name"]): p for p in resp.json()["items"]}
    assert names[("engine", "noop")]["selected"] is True
    assert names[("object_store", "s3")]["selected"] is True


async def test_anonymous_is_refused(client_for: Any) -> None:
    anon = await client_for(None)
    resp = await anon.get("/api/v1/workspaces")
    assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)
    bad = await client_for("lp_not-a-real-token-000000000000")
    assert (await bad.get("/api/v1/workspaces")).status_code == 401


async def test_concurrent_duplicate_names_make_one(admin_client: Any) -> None:
    ws = await make_ws(admin_client)
    url = f"/api/v1/workspaces/{ws['id']}/connections"
    results = await asyncio.gather(
        *(
            admin_client.post(
                url, json={"name": "same", "role": "object_store", "plugin": "s3", "params": S3_PARAMS}
            )
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]


async def test_a_workspace_read_is_one_connection_and_two_queries(
    admin_client: Any, new_user: Any, client_for: Any, lakeplane_services: Any
) -> None:
    """Guard and handler share the request's session: one pooled connection, one query for the
    workspace and the caller's role, one for the page (a cached token needs no lookup)."""
    from sqlalchemy import event

    ws = await make_ws(admin_client)
    _, viewer_token = await new_user("viewer", roles={ws["id"]: "viewer"})
    viewer = await client_for(viewer_token)
    url = f"/api/v1/workspaces/{ws['slug']}/connections"
    engine = lakeplane_services.engine.sync_engine
    seen: dict[str, list[Any]] = {"checkouts": [], "statements": []}

    def on_checkout(*args: Any) -> None:
        seen["checkouts"].append(args)

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen["statements"].append(statement)

    for client in (admin_client, viewer):
        assert (await client.get(url)).status_code == 200  # the token is verified and cached
        event.listen(engine, "checkout", on_checkout)
        event.listen(engine, "before_cursor_execute", on_statement)
        try:
            resp = await client.get(url)
        finally:
            event.remove(engine, "checkout", on_checkout)
            event.remove(engine, "before_cursor_execute", on_statement)
        assert resp.status_code == 200, resp.text
        assert len(seen["checkouts"]) == 1, seen
        assert len(seen["statements"]) == 2, seen["statements"]
        for found in seen.values():
            found.clear()
