"""The Kubernetes error table, fed the answers an API server gives: no cluster needed."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from lakeplane import errors
from lakeplane.drivers.kubernetes import KubernetesErrors, Request, load_configuration

REQUEST = Request("create", "pods", "lakeplane-ws-demo", "run-1-driver")


class Expired(errors.EngineUnavailable):
    pass


ENGINE = KubernetesErrors(not_found=errors.NotFound, unavailable=errors.EngineUnavailable, expired=Expired)
STORE = KubernetesErrors(
    not_found=errors.SecretUnavailable,
    unavailable=errors.UpstreamError,
    config_field="secret_store.options.kubeconfig",
)


def _answer(status: int, message: str = "", reason: str = "Reason") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "message": message}).encode() if message else None
    return exc


def _raised(table: KubernetesErrors, exc: Exception) -> errors.LakeplaneError:
    with pytest.raises(errors.LakeplaneError) as raised, table(REQUEST):
        raise exc
    assert raised.value.__cause__ is exc
    return raised.value


def test_a_request_reads_as_rbac_names_it() -> None:
    assert str(REQUEST) == "create pods/run-1-driver in namespace lakeplane-ws-demo"
    assert str(Request("get", "API groups")) == "get API groups cluster-wide"


@pytest.mark.parametrize(
    ("status", "engine", "store"),
    [
        (401, errors.BadCredentials, errors.BadCredentials),
        (403, errors.BadCredentials, errors.BadCredentials),
        (404, errors.NotFound, errors.SecretUnavailable),
        (409, errors.Conflict, errors.Conflict),
        (410, Expired, errors.UpstreamError),
        (400, errors.ValidationFailed, errors.ValidationFailed),
        (422, errors.ValidationFailed, errors.ValidationFailed),
        (429, errors.EngineUnavailable, errors.UpstreamError),
        (503, errors.EngineUnavailable, errors.UpstreamError),
    ],
)
def test_each_status_has_the_plugins_error(status: int, engine: type, store: type) -> None:
    assert type(_raised(ENGINE, _answer(status, "the server's word"))) is engine
    assert type(_raised(STORE, _answer(status, "the server's word"))) is store


def test_messages_name_the_request_and_the_servers_message() -> None:
    refused = _raised(ENGINE, _answer(403, 'pods is forbidden: User "x" cannot create'))
    assert str(REQUEST) in refused.detail and "403 Forbidden" in refused.detail
    assert 'User "x" cannot create' in refused.detail
    expired = _raised(ENGINE, _answer(401))
    assert "401 Unauthorized" in expired.detail and "invalid or expired" in expired.detail
    rejected = _raised(ENGINE, _answer(422, "metadata.annotations: Invalid value"))
    assert rejected.detail.startswith("the Kubernetes API server rejected the request to create pods/")
    assert rejected.extra["errors"] == [{"field": "pods", "message": "metadata.annotations: Invalid value"}]
    assert "(500 Boom)" in _raised(ENGINE, _answer(500, reason="Boom")).detail


def test_an_unreachable_server_and_a_config_problem() -> None:
    unreachable = _raised(STORE, aiohttp.ClientConnectionError("no route\nsecond line"))
    assert isinstance(unreachable, errors.UpstreamError)
    assert "unreachable" in unreachable.detail and "\n" not in unreachable.detail
    assert _raised(ENGINE, TimeoutError()).detail.endswith(": TimeoutError")


def test_other_exceptions_and_lakeplane_errors_pass_through() -> None:
    with pytest.raises(KeyError), ENGINE(REQUEST):
        raise KeyError("not the driver's")
    already = errors.Conflict("mapped before")
    with pytest.raises(errors.Conflict) as raised, ENGINE(REQUEST):
        raise already
    assert raised.value is already


async def test_a_missing_or_broken_kubeconfig_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="does not exist") as missing:
        await load_configuration(str(tmp_path / "none"), field="secret_store.options.kubeconfig")
    assert "secret_store.options.kubeconfig" in str(missing.value)
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    with pytest.raises(errors.ConfigError, match="current-context") as bad:
        await load_configuration(str(broken))
    assert str(broken) in bad.value.detail and "\n" not in str(bad.value)
