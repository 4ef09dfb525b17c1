"""The catalog contract, against two real Iceberg REST catalogs: SeaweedFS's and Nessie's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import msgspec
import pyarrow as pa
import pytest
import pytest_asyncio

from lakeplane.interfaces import TableIdent
from lakeplane.testing.contracts import CatalogContract, unreachable_url
from lakeplane.testing.contracts.catalog import AppendRows
from lakeplane_iceberg_rest import IcebergRestCatalog, IcebergRestOptions, IcebergRestParams

QUICK = IcebergRestOptions(connect_timeout_s=1.0, read_timeout_s=5.0)


class IcebergRestFixtures:
    """The contract's fixtures for any Iceberg REST catalog; a subclass gives ``catalog_params``."""

    @pytest_asyncio.fixture(loop_scope="session")
    async def catalog(self, catalog_params: IcebergRestParams) -> AsyncIterator[IcebergRestCatalog]:
        async with IcebergRestCatalog(catalog_params) as catalog:
            yield catalog

    @pytest_asyncio.fixture(loop_scope="session")
    async def catalog_unreachable(
        self, catalog_params: IcebergRestParams
    ) -> AsyncIterator[IcebergRestCatalog]:
        params = msgspec.structs.replace(catalog_params, uri=unreachable_url())
        async with IcebergRestCatalog(params, QUICK) as catalog:
            yield catalog

    @pytest.fixture
    def append_rows(self, catalog: IcebergRestCatalog) -> AppendRows:
        """Rows written with pyarrow through pyiceberg, against the catalog's own storage."""

        async def append(ident: TableIdent, rows: list[dict[str, Any]]) -> None:
            client = await catalog.pyiceberg()

            def write() -> None:
                table = client.load_table((*ident.namespace, ident.name))
                table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))

            await anyio.to_thread.run_sync(write)

        return append


class TestIcebergRestOnSeaweedFS(IcebergRestFixtures, CatalogContract):
    @pytest.fixture
    def catalog_params(self, seaweedfs_catalog_params: IcebergRestParams) -> IcebergRestParams:
        return seaweedfs_catalog_params

    @pytest_asyncio.fixture(loop_scope="session")
    async def catalog_bad_credentials(
        self, catalog_params: IcebergRestParams
    ) -> AsyncIterator[IcebergRestCatalog]:
        client_id = (catalog_params.credential or "").split(":", 1)[0]
        params = msgspec.structs.replace(catalog_params, credential=f"{client_id}:wrong-{'s' * 20}")
        async with IcebergRestCatalog(params, QUICK) as catalog:
            yield catalog


@pytest.mark.nessie
class TestIcebergRestOnNessie(IcebergRestFixtures, CatalogContract):
    keeps_snapshot_history = False

    @pytest.fixture
    def catalog_params(self, nessie_catalog_params: IcebergRestParams) -> IcebergRestParams:
        return nessie_catalog_params

    @pytest.fixture
    def catalog_bad_credentials(self) -> IcebergRestCatalog:
        pytest.skip("Nessie runs here without authentication (its authentication needs an OIDC server)")
