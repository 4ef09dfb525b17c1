"""The data-plane slice, all real: pyiceberg writes a table into SeaweedFS's Iceberg REST
catalog, Trino reads it through the Trino plugin, and the control plane shows it as a dataset."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DoubleType, NestedField, StringType, TimestamptzType

from lakeplane.testing.fixtures import add_connection, iceberg_rest_params
from lakeplane_trino import TrinoEngine, TrinoParams

pytestmark = pytest.mark.trino
ROWS = 1_000


def pyiceberg_catalog(sw: Any) -> RestCatalog:
    return RestCatalog("slice", **sw.pyiceberg_properties(), **{"s3.path-style-access": "true"})


async def test_write_with_pyiceberg_read_with_trino_see_in_api(
    admin_client: Any, seaweedfs_service: Any, trino_service: Any
) -> None:
    namespace = f"slice_{secrets.token_hex(3)}"
    catalog = pyiceberg_catalog(seaweedfs_service)
    catalog.create_namespace(namespace)
    schema = Schema(
        NestedField(1, "meter_id", StringType(), required=True),
        NestedField(2, "ts", TimestamptzType(), required=True),
        NestedField(3, "kwh", DoubleType(), required=False),
        NestedField(4, "region", StringType(), required=True),
    )
    table = catalog.create_table(
        f"{namespace}.readings",
        schema=schema,
        partition_spec=PartitionSpec(PartitionField(4, 1000, IdentityTransform(), "region")),
    )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    regions = ["north", "south", "east", "west"]
    batch = pa.Table.from_pydict(
        {
            "meter_id": [f"MTR-{i % 50:04d}" for i in range(ROWS)],
            "ts": [start + dt.timedelta(minutes=15 * i) for i in range(ROWS)],
            "kwh": [round(0.1 * (i % 37), 2) for i in range(ROWS)],
            "region": [regions[i % 4] for i in range(ROWS)],
        },
        schema=schema.as_arrow(),
    )
    table.append(batch.slice(0, 600))
    table.append(batch.slice(600))

    # Trino, through the plugin, sees what pyiceberg wrote.
    params = TrinoParams(host=trino_service.host, port=trino_service.port, user="slice-test")
    async with TrinoEngine(params) as trino:
        counted = await trino.execute(
            f'SELECT region, count(*) FROM iceberg."{namespace}".readings GROUP BY region ORDER BY region'
        )
    assert [row[0] for row in counted.rows] == sorted(regions)
    assert sum(row[1] for row in counted.rows) == ROWS

    # The control plane browses the catalog and registers the table as a dataset.
    ws = (
        await admin_client.post(
            "/api/v1/workspaces", json={"slug": namespace.replace("_", "-"), "name": "slice"}
        )
    ).json()
    base = f"/api/v1/workspaces/{ws['id']}"
    lake = iceberg_rest_params(seaweedfs_service)
    conn_id = (await add_connection(admin_client, base, "lake", "catalog", "iceberg-rest", lake))["id"]
    tested = (await admin_client.post(f"{base}/connections/{conn_id}/test")).json()
    assert tested["ok"], tested
    namespaces = (await admin_client.get(f"{base}/connections/{conn_id}/catalog/namespaces")).json()["items"]
    assert namespace in namespaces
    tables = (
        await admin_client.get(f"{base}/connections/{conn_id}/catalog/namespaces/{namespace}/tables")
    ).json()
    assert tables["items"] == ["readings"]
    described = (
        await admin_client.get(f"{base}/connections/{conn_id}/catalog/namespaces/{namespace}/tables/readings")
    ).json()
    assert [f["name"] for f in described["schema"]] == ["meter_id", "ts", "kwh", "region"]
    assert len(described["snapshots"]) == 2

    registered = await admin_client.post(
        f"{base}/datasets",
        json={
            "name": "meter_readings",
            "owner": "grid-analytics",
            "tags": ["energy", "pii:none"],
            "connection_id": conn_id,
            "namespace": [namespace],
            "table": "readings",
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["location"].startswith("s3://")
    detail = (await admin_client.get(f"{base}/datasets/{registered.json()['id']}")).json()
    assert detail["live_error"] is None
    assert detail["live"]["row_count"] == ROWS
    assert detail["live"]["last_snapshot"]["snapshot_id"] == table.refresh().current_snapshot().snapshot_id
    assert [s["total_records"] for s in detail["live"]["snapshots"]] == [600, ROWS]
    assert detail["live"]["partition_spec"][0]["transform"] == "identity"

    missing = await admin_client.post(
        f"{base}/datasets",
        json={
            "name": "ghost",
            "owner": "x",
            "connection_id": conn_id,
            "namespace": [namespace],
            "table": "nope",
        },
    )
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("table-not-found")
    duplicate = await admin_client.post(
        f"{base}/datasets", json={"name": "meter_readings", "owner": "y", "location": "s3://x/y"}
    )
    assert duplicate.status_code == 409
