"""The demo: sample data → Spark ingest into Iceberg → Trino aggregate, all through the control plane.

Every step is idempotent, so running the demo again reuses what the first run made:
the stack, the admin user, the workspace, connections, jobs and the dataset. Only
the runs are new each time. The control-plane objects are made through the REST
API with an admin token, exactly as a user's script would.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from lakeplane import config as config_module
from lakeplane.db.models import ApiToken, User
from lakeplane.domain import audit
from lakeplane.domain.auth.principals import hash_secret
from lakeplane.domain.auth.services import create_admin, password_provider
from lakeplane.domain.runs.lifecycle import TERMINAL, RunState
from lakeplane.domain.runs.logstore import platform_store
from lakeplane.domain.tokens import services as tokens
from lakeplane.domain.tokens.schemas import TokenCreate
from lakeplane.errors import LakeplaneError
from lakeplane.local.cli import demo_users
from lakeplane.local.processes import write_private
from lakeplane.local.stack import LocalStack
from lakeplane.runtime import Services

WORKSPACE = "demo"
ADMIN = "admin"
RAW_KEY = "demo/raw/meter_readings.csv"
JOB_KEY = "demo/jobs/ingest_meter_readings.py"
NAMESPACE = "energy"
TABLE = "meter_readings"
AGGREGATE_SQL = """
SELECT region,
       count(*) AS readings,
       count(DISTINCT meter_id) AS meters,
       round(sum(kwh), 1) AS total_kwh,
       round(avg(kwh), 3) AS avg_kwh
FROM iceberg.energy.meter_readings
GROUP BY region
ORDER BY region
""".strip()


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def progress(line: str) -> None:
    print(f"    {line}", file=sys.stderr, flush=True)


class DemoFailed(LakeplaneError, status=500, code="demo-failed"):
    """A step of the demo did not do what it should."""


class Demo:
    def __init__(self, data_dir: str | os.PathLike[str], rows: int = 20_000) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.rows = rows

    async def run(self) -> int:
        started = time.monotonic()
        say(f"starting the local stack in {self.data_dir}")
        stack = LocalStack(self.data_dir, progress=progress)
        await stack.up()
        info = json.loads(stack.state_path.read_text())
        config = config_module.load(stack.config_path)
        lp = Services.build(config)
        try:
            token, password = await self.admin_token(lp)
            await self.upload_inputs(lp, info)
            async with httpx.AsyncClient(
                base_url=info["api"]["url"], headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as api:
                ws = await self.workspace(api)
                conns = await self.connections(api, ws, info)
                ingest, aggregate = await self.jobs(api, ws, conns, info)
                say("running the Spark ingest job (CSV on S3 → partitioned Iceberg table)")
                ingest_run = await self.run_job(api, ws, ingest)
                stats = ingest_run.get("stats", {}).get("engine", {})
                say(
                    f"ingest {ingest_run['state']}: {stats.get('rows_written', '?')} rows written, "
                    f"{stats.get('rows_rejected', '?')} rejected"
                )
                dataset = await self.dataset(api, ws, conns["lake"])
                say("running the Trino SQL job that aggregates the table")
                agg_run = await self.run_job(api, ws, aggregate)
                result = (await api.get(f"/api/v1/workspaces/{ws}/runs/{agg_run['id']}/result")).json()
                print_table(result)
                ui = info["api"]["url"]
                say(f"done in {time.monotonic() - started:.0f} s")
                print(f"\nUI: {ui}/ui/  (sign in as {ADMIN!r}; password in {self.password_path})")
                if password:
                    print(f"    first-run admin password: {password}")
                print(f"    dataset:   {ui}/ui/workspaces/{ws}/datasets/{dataset}")
                print(f"    runs:      {ui}/ui/workspaces/{ws}/runs/{agg_run['id']}")
                for line in demo_users(stack.state_path):
                    print(f"    {line}")
        finally:
            await lp.engine.dispose()
        return 0

    @property
    def password_path(self) -> Path:
        return self.data_dir / "admin-password"

    async def admin_token(self, lp: Services) -> tuple[str, str | None]:
        """The demo's admin user and API token, made on the first run and kept (0600) for the next."""
        token_path = self.data_dir / "demo-token"
        first_password = None
        async with lp.sessions() as db, db.begin():
            user = await db.scalar(select(User).where(User.username == ADMIN))
            if user is None:
                first_password = secrets.token_urlsafe(18)
                hashed = await password_provider(lp).hash_password(first_password)
                user = await create_admin(
                    db, audit.Actor.system("lakeplane demo"), ADMIN, hashed, "user.create_admin"
                )
        if first_password is not None:
            write_private(self.password_path, first_password + "\n")
        if token_path.exists():
            token = token_path.read_text().strip()
            async with lp.sessions() as db:
                row = await db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(token)))
            if row is not None and row.revoked_at is None and row.user_id == user.id:
                return token, first_password
        async with lp.sessions() as db:
            created = await tokens.create(
                db,
                audit.Actor(id=user.id, name=user.username),
                user.id,
                TokenCreate(name="lakeplane demo", expires_in_days=30),
            )
        write_private(token_path, created.token + "\n")
        return created.token, first_password

    async def upload_inputs(self, lp: Services, info: dict[str, Any]) -> None:
        from lakeplane_spark.sample import INGEST_JOB, write_csv

        bucket = info["s3"]["bucket"]
        buffer = io.StringIO()
        sample = write_csv(buffer, rows=self.rows)
        say(
            f"uploading {sample.rows} sample meter readings ({sample.bad_rows} deliberately bad) to s3://{bucket}/{RAW_KEY}"
        )
        async with platform_store(lp) as store:
            await store.put_object(bucket, RAW_KEY, buffer.getvalue().encode(), content_type="text/csv")
            await store.put_object(bucket, JOB_KEY, INGEST_JOB.read_bytes(), content_type="text/x-python")

    async def workspace(self, api: httpx.AsyncClient) -> str:
        found = await api.get(f"/api/v1/workspaces/{WORKSPACE}")
        if found.status_code == 200:
            return str(found.json()["id"])
        created = await api.post("/api/v1/workspaces", json={"slug": WORKSPACE, "name": "Demo: smart meters"})
        check(created)
        say(f"created workspace {WORKSPACE!r}")
        return str(created.json()["id"])

    async def connections(self, api: httpx.AsyncClient, ws: str, info: dict[str, Any]) -> dict[str, str]:
        s3, iceberg, trino = info["s3"], info["iceberg"], info["trino"]
        wanted = {
            "s3": (
                "object_store",
                "s3",
                {
                    "endpoint_url": s3["endpoint_url"],
                    "region": s3["region"],
                    "bucket": s3["bucket"],
                    "access_key_id": s3["access_key_id"],
                    "secret_access_key": s3["secret_access_key"],
                },
            ),
            "lake": (
                "catalog",
                "iceberg-rest",
                {
                    "uri": iceberg["uri"],
                    "warehouse": iceberg["warehouse"],
                    "credential": iceberg["credential"],
                    "s3_endpoint": s3["endpoint_url"],
                    "s3_access_key_id": s3["access_key_id"],
                    "s3_secret_access_key": s3["secret_access_key"],
                    "s3_region": s3["region"],
                },
            ),
            "trino": (
                "engine",
                "trino",
                {
                    "host": trino["host"],
                    "port": trino["port"],
                    "user": trino["user"],
                    "catalog": trino["catalog"],
                },
            ),
            "spark": (
                "engine",
                "spark",
                {
                    "backend": "local",
                    "catalog_name": "lake",
                    "catalog_uri": iceberg["uri"],
                    "warehouse": iceberg["warehouse"],
                    "catalog_credential": iceberg["credential"],
                    "s3_endpoint": s3["endpoint_url"],
                    "s3_access_key_id": s3["access_key_id"],
                    "s3_secret_access_key": s3["secret_access_key"],
                    "s3_region": s3["region"],
                    "local_cores": 2,
                },
            ),
        }
        existing = {
            c["name"]: c
            for c in (await api.get(f"/api/v1/workspaces/{ws}/connections", params={"limit": 100})).json()[
                "items"
            ]
        }
        ids = {}
        for name, (role, plugin, params) in wanted.items():
            if name in existing:
                resp = await api.patch(
                    f"/api/v1/workspaces/{ws}/connections/{existing[name]['id']}", json={"params": params}
                )
            else:
                resp = await api.post(
                    f"/api/v1/workspaces/{ws}/connections",
                    json={"name": name, "role": role, "plugin": plugin, "params": params},
                )
            check(resp)
            ids[name] = resp.json()["id"]
            test = (await api.post(f"/api/v1/workspaces/{ws}/connections/{ids[name]}/test")).json()
            outcome = "ok" if test["ok"] else f"FAILED {test.get('error') or test['checks']}"
            say(f"connection {name} ({plugin}): {outcome}")
            if not test["ok"]:
                raise DemoFailed(f"connection {name} does not work")
        return ids

    async def jobs(
        self, api: httpx.AsyncClient, ws: str, conns: dict[str, str], info: dict[str, Any]
    ) -> tuple[str, str]:
        bucket = info["s3"]["bucket"]
        ingest = {
            "name": "ingest-meter-readings",
            "type": "spark_batch",
            "connection_id": conns["spark"],
            "queue": "batch",
            "definition": {
                "application": f"s3://{bucket}/{JOB_KEY}",
                "args": [f"s3://{bucket}/{RAW_KEY}", f"lake.{NAMESPACE}.{TABLE}"],
                "resources": {"driver_memory": "2g"},
            },
        }
        aggregate = {
            "name": "regional-consumption",
            "type": "trino_sql",
            "connection_id": conns["trino"],
            "queue": "bi",
            "definition": {"sql": AGGREGATE_SQL},
        }
        existing = {
            j["name"]: j
            for j in (await api.get(f"/api/v1/workspaces/{ws}/jobs", params={"limit": 100})).json()["items"]
        }
        ids = []
        for body in (ingest, aggregate):
            job = existing.get(str(body["name"]))
            if job is None:
                resp = await api.post(f"/api/v1/workspaces/{ws}/jobs", json=body)
                check(resp)
                say(f"created job {body['name']} ({body['type']})")
            else:
                current = (await api.get(f"/api/v1/workspaces/{ws}/jobs/{job['id']}")).json()
                version = current.get("version") or current.get("current") or {}
                if (
                    version.get("definition") != body["definition"]
                    or version.get("connection_id") != body["connection_id"]
                ):
                    resp = await api.patch(
                        f"/api/v1/workspaces/{ws}/jobs/{job['id']}",
                        json={"definition": body["definition"], "connection_id": body["connection_id"]},
                    )
                    check(resp)
                else:
                    resp = httpx.Response(200, json=current)
            data = resp.json()
            ids.append(str(data.get("id") or data["job"]["id"]))
        return ids[0], ids[1]

    async def run_job(
        self, api: httpx.AsyncClient, ws: str, job_id: str, timeout_s: float = 1800
    ) -> dict[str, Any]:
        resp = await api.post(f"/api/v1/workspaces/{ws}/jobs/{job_id}/runs", json={"parameters": {}})
        check(resp)
        run = resp.json()
        deadline = time.monotonic() + timeout_s
        last = None
        while run["state"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise DemoFailed(f"run {run['id']} did not finish within {timeout_s:.0f} s")
            if run["state"] != last:
                say(f"  run {run['id']}: {run['state']}")
                last = run["state"]
            await asyncio.sleep(1)
            run = (await api.get(f"/api/v1/workspaces/{ws}/runs/{run['id']}")).json()
        say(f"  run {run['id']}: {run['state']}")
        if run["state"] != RunState.SUCCEEDED:
            logs = (await api.get(f"/api/v1/workspaces/{ws}/runs/{run['id']}/logs")).json()
            tail = "\n".join(str(logs.get("text", "")).splitlines()[-30:])
            print(tail, file=sys.stderr)
            raise DemoFailed(f"run {run['id']} ended {run['state']}: {run.get('reason')}")
        return dict(run)

    async def dataset(self, api: httpx.AsyncClient, ws: str, catalog_conn: str) -> str:
        found = (await api.get(f"/api/v1/workspaces/{ws}/datasets", params={"q": TABLE})).json()["items"]
        if found:
            return str(found[0]["id"])
        resp = await api.post(
            f"/api/v1/workspaces/{ws}/datasets",
            json={
                "name": TABLE,
                "owner": "grid-analytics",
                "tags": ["energy", "smart-meter", "demo"],
                "description": "Smart-meter readings ingested by the demo's Spark job",
                "connection_id": catalog_conn,
                "namespace": [NAMESPACE],
                "table": TABLE,
            },
        )
        check(resp)
        say(f"registered dataset {TABLE}")
        return str(resp.json()["id"])


def check(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        raise DemoFailed(f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {detail}")


def print_table(result: dict[str, Any]) -> None:
    columns = [c["name"] for c in result.get("columns", [])]
    rows = [[("" if v is None else str(v)) for v in row] for row in result.get("rows", [])]
    if not columns:
        print("(no result rows)")
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print()
