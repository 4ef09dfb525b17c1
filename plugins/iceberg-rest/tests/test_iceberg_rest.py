"""What only the iceberg-rest plugin has: parameters, validation steps, tokens, threads, error mapping."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import msgspec
import pytest
import requests
from pyiceberg import exceptions as ice

from lakeplane import errors
from lakeplane.interfaces import CheckStatus, NewField, PartitionField, endpoint_fields, secret_fields
from lakeplane.testing.contracts import assert_no_secrets, assert_registered, unreachable_url
from lakeplane.testing.services import SeaweedFSService
from lakeplane_iceberg_rest import IcebergRestCatalog, IcebergRestOptions, IcebergRestParams
from lakeplane_iceberg_rest._errors import ErrorContext, translate
from lakeplane_iceberg_rest.catalog import build_partition_spec, build_schema


def test_registered_through_the_entry_point() -> None:
    assert_registered(IcebergRestCatalog, "lakeplane-plugin-iceberg-rest")


def test_params_mark_secrets_and_endpoints() -> None:
    params = msgspec.convert({"uri": "http://catalog:8181"}, IcebergRestParams)
    assert (params.warehouse, params.credential, params.s3_region, params.s3_path_style) == (
        None,
        None,
        "us-east-1",
        True,
    )
    assert secret_fields(IcebergRestParams) == {"credential", "token", "s3_secret_access_key"}
    assert endpoint_fields(IcebergRestParams) == {"uri", "oauth2_server_uri", "s3_endpoint"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"uri": "http://c", "s3_path_stile": True}, IcebergRestParams)


def test_pyiceberg_properties() -> None:
    params = IcebergRestParams(
        uri="http://catalog:8181/",
        warehouse="s3://lake/",
        credential="id:secret",
        s3_endpoint="http://s3:8333",
        s3_access_key_id="AK",
        s3_secret_access_key="SK",
        s3_path_style=False,
    )
    props = IcebergRestCatalog(params).pyiceberg_properties()
    assert props["oauth2-server-uri"] == "http://catalog:8181/v1/oauth/tokens"
    assert props["s3.path-style-access"] == "false"
    assert (props["s3.endpoint"], props["s3.access-key-id"], props["s3.secret-access-key"]) == (
        "http://s3:8333",
        "AK",
        "SK",
    )
    assert "token" not in props


def test_definitions_are_checked_before_any_request() -> None:
    schema = build_schema([NewField("id", "long", required=True), NewField("price", "decimal(9,2)")])
    assert [str(f.field_type) for f in schema.fields] == ["long", "decimal(9, 2)"]
    spec = build_partition_spec(schema, [PartitionField("id", "truncate[10]", "id_t")])
    assert [(f.field_id, str(f.transform)) for f in spec.fields] == [(1000, "truncate[10]")]
    with pytest.raises(errors.ValidationFailed, match="at least one column"):
        build_schema([])
    with pytest.raises(errors.ValidationFailed, match="'price'"):
        build_partition_spec(schema, [PartitionField("price", "day", "price_day")])
    with pytest.raises(errors.ValidationFailed, match="unknown type 'list<string>'"):
        build_schema([NewField("s", "list<string>")])


async def test_blocking_calls_run_off_the_event_loop(
    seaweedfs_catalog_params: IcebergRestParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with IcebergRestCatalog(seaweedfs_catalog_params) as catalog:
        client = await catalog.pyiceberg()
        threads: list[threading.Thread] = []
        original = client.list_namespaces

        def recording(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread())
            return original(*args, **kwargs)

        monkeypatch.setattr(client, "list_namespaces", recording)
        await catalog.list_namespaces()
    assert threads
    assert threading.main_thread() not in threads


async def test_validate_reports_each_step(seaweedfs_catalog_params: IcebergRestParams) -> None:
    async with IcebergRestCatalog(seaweedfs_catalog_params) as catalog:
        result = await catalog.validate()
    assert result.ok
    assert [(c.name, c.status) for c in result.checks] == [
        ("endpoint", CheckStatus.OK),
        ("credentials", CheckStatus.OK),
        ("warehouse", CheckStatus.OK),
    ]


async def test_validate_names_a_missing_warehouse(seaweedfs_catalog_params: IcebergRestParams) -> None:
    params = msgspec.structs.replace(seaweedfs_catalog_params, warehouse="s3://no-such-warehouse/")
    async with IcebergRestCatalog(params) as catalog:
        result = await catalog.validate()
        with pytest.raises(errors.NotFound):
            await catalog.list_namespaces()
    assert not result.ok
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["credentials"] is CheckStatus.OK
    assert statuses["warehouse"] is CheckStatus.FAILED
    assert "no-such-warehouse" in result.checks[-1].message


async def test_validate_stops_at_an_unreachable_endpoint(seaweedfs_catalog_params: IcebergRestParams) -> None:
    params = msgspec.structs.replace(seaweedfs_catalog_params, uri=unreachable_url())
    async with IcebergRestCatalog(params, IcebergRestOptions(connect_timeout_s=1)) as catalog:
        result = await catalog.validate()
    assert [(c.name, c.status) for c in result.checks] == [("endpoint", CheckStatus.FAILED)]
    assert "check uri" in result.checks[0].message


async def test_validate_names_wrong_credentials(seaweedfs_catalog_params: IcebergRestParams) -> None:
    params = msgspec.structs.replace(seaweedfs_catalog_params, credential="lakeplane:not-the-secret")
    async with IcebergRestCatalog(params) as catalog:
        result = await catalog.validate()
        assert_no_secrets(catalog, result)
    assert [(c.name, c.status) for c in result.checks] == [
        ("endpoint", CheckStatus.OK),
        ("credentials", CheckStatus.FAILED),
    ]


async def test_a_bearer_token_is_used_as_is(
    seaweedfs_service: SeaweedFSService, seaweedfs_catalog_params: IcebergRestParams
) -> None:
    async with httpx.AsyncClient() as http:
        token = await seaweedfs_service.component.catalog_token(http)
    good = msgspec.structs.replace(seaweedfs_catalog_params, credential=None, token=token)
    async with IcebergRestCatalog(good) as catalog:
        assert (await catalog.validate()).ok
    bad = msgspec.structs.replace(good, token="not-a-token-" + "z" * 20)
    async with IcebergRestCatalog(bad) as catalog:
        with pytest.raises(errors.BadCredentials) as raised:
            await catalog.list_namespaces()
        assert_no_secrets(catalog, raised.value)


# -- the mapping itself, on the exceptions pyiceberg raises ----------------------------

CTX = ErrorContext(uri="http://catalog:8181", secrets=("id:s3cr3t", "s3cr3t"))


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ice.NoSuchTableError("Table does not exist: t"), errors.TableNotFound),
        (ice.NoSuchNamespaceError("Namespace does not exist: n"), errors.NotFound),
        (ice.TableAlreadyExistsError("exists"), errors.Conflict),
        (ice.NamespaceNotEmptyError("not empty"), errors.Conflict),
        (ice.CommitFailedException("requirement failed"), errors.Conflict),
        (ice.OAuthError("invalid_client: Invalid client credentials"), errors.BadCredentials),
        (ice.UnauthorizedError("Bearer token is invalid or expired"), errors.BadCredentials),
        (ice.BadRequestError("malformed"), errors.ValidationFailed),
        (requests.ConnectionError("refused"), errors.UpstreamError),
        (ice.ServerError("IllegalStateException: Warehouse 'x' is not known"), errors.UpstreamError),
    ],
)
def test_each_driver_error_has_its_lakeplane_error(raised: Exception, expected: type[Exception]) -> None:
    assert type(translate(raised, CTX, "table a.b")) is expected


def test_messages_name_the_subject_and_never_a_secret() -> None:
    error = translate(ice.OAuthError("client id:s3cr3t rejected"), CTX)
    assert "s3cr3t" not in error.detail
    assert "http://catalog:8181" in error.detail
    assert "table a.b" in translate(ice.NoSuchTableError("gone"), CTX, "table a.b").detail


def test_a_catalog_without_a_token_endpoint_is_explained() -> None:
    error = translate(NotImplementedError("RESTError 501: Endpoint not implemented"), CTX)
    assert type(error) is errors.UpstreamError
    assert "oauth2_server_uri" in error.detail
