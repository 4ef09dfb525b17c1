"""An ``identifier`` job parameter names the table of a Trino SQL job, end to end.

Through the HTTP API (connection, job, runs), a real ``lakeplane worker`` process and
a real Trino with Iceberg tables: the table a run names is the one it reads, and a
name that is not one is refused at submit, before any run exists.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from lakeplane.testing.fixtures import add_connection, add_job
from lakeplane_trino import TrinoEngine, TrinoParams

from .conftest import RunsEnv, api_client, trino_params

SQL = "SELECT region, sum(amount) AS total, count(*) AS n FROM :table WHERE region = :region GROUP BY region"
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


@pytest.fixture
async def schema(trino_service: Any) -> AsyncIterator[str]:
    """A fresh Iceberg schema with two small tables, ``orders`` and ``returns``."""
    name = f"ident_{secrets.token_hex(4)}"
    async with TrinoEngine(TrinoParams(**trino_params(trino_service))) as trino:
        await trino.execute(f"CREATE SCHEMA iceberg.{name}")
        await trino.execute(
            f"CREATE TABLE iceberg.{name}.orders AS SELECT * FROM "
            "(VALUES ('north', 10), ('north', 5), ('south', 7)) AS t(region, amount)"
        )
        await trino.execute(
            f"CREATE TABLE iceberg.{name}.returns AS SELECT * FROM (VALUES ('north', 2)) AS t(region, amount)"
        )
        try:
            yield name
        finally:
            with contextlib.suppress(Exception):
                for table in ("orders", "returns"):
                    await trino.execute(f"DROP TABLE iceberg.{name}.{table}")
                await trino.execute(f"DROP SCHEMA iceberg.{name}")


@pytest.mark.trino
async def test_an_identifier_parameter_picks_the_table_and_a_bad_one_is_refused(
    trino_env: RunsEnv, trino_service: Any, schema: str
) -> None:
    worker = trino_env.start_worker("trino-ident", concurrency=4)
    async with api_client(trino_env) as (client, ws):
        conn = await add_connection(client, ws, "trino", "engine", "trino", trino_params(trino_service))
        parameters = [
            {"name": "table", "type": "identifier", "required": True},
            {"name": "region", "type": "string", "default": "north"},
        ]
        definition = {"sql": SQL, "catalog": "iceberg"}
        job = await add_job(
            client,
            ws,
            "totals-by-table",
            "trino_sql",
            definition,
            parameters=parameters,
            connection_id=conn["id"],
        )
        runs_url = f"{ws}/jobs/{job['id']}/runs"

        for bad, reason in [
            ("x; DROP TABLE y", "identifier"),
            ('orders"; DROP TABLE y; --', "identifier"),
            (f"iceberg.{schema}.orders.extra", "identifier"),
            ("", "identifier"),
        ]:
            refused = await client.post(runs_url, json={"parameters": {"table": bad}})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            body = refused.json()
            assert body["type"].endswith("/validation-failed") and body["status"] == 422
            assert [e["field"] for e in body["errors"]] == ["parameters.table"], body
            assert reason in body["errors"][0]["message"], body
        listed = await client.get(f"{ws}/runs", params={"job_id": job["id"]})
        assert listed.json()["items"] == []  # nothing was queued for a refused name

        await worker.ready()
        full = await client.post(runs_url, json={"parameters": {"table": f"iceberg.{schema}.orders"}})
        # Two parts resolve against the job's catalog; the string parameter stays a bound value.
        short = await client.post(
            runs_url, json={"parameters": {"table": f"{schema}.returns", "region": "north' OR 'x'='x"}}
        )
        south = await client.post(
            runs_url, json={"parameters": {"table": f"{schema}.orders", "region": "south"}}
        )
        ids = []
        for answer in (full, short, south):
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])

        async def finished() -> bool:
            return all(r.state in TERMINAL for r in await trino_env.runs(ids))

        await trino_env.wait_for(finished, 180, "the three Trino runs to finish")
        results = []
        for run_id in ids:
            run = (await client.get(f"{ws}/runs/{run_id}")).json()
            assert run["state"] == "succeeded", run
            results.append((await client.get(f"{ws}/runs/{run_id}/result")).json())
        assert [c["name"] for c in results[0]["columns"]] == ["region", "total", "n"]
        assert results[0]["rows"] == [["north", 15, 2]]
        assert results[1]["rows"] == []  # the injection attempt is a region no row has
        assert results[2]["rows"] == [["south", 7, 1]]

        # What Trino ran: the name quoted in, the region bound.
        (run,) = await trino_env.runs([ids[0]])
        async with httpx.AsyncClient() as trino_http:
            info = await trino_http.get(
                f"{trino_service.url}/v1/query/{run.engine_handle['id']}",
                headers={"X-Trino-User": trino_service.user},
            )
        assert f'FROM "iceberg"."{schema}"."orders" WHERE region = ?' in info.json()["query"]
    await trino_env.check_invariants()
