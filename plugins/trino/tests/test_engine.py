"""What the contract does not cover: checks, errors, credentials, results, logs, session settings."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
import pytest_asyncio
from _trino_server import USER, DevTrino

from lakeplane.errors import BadCredentials, EngineUnavailable, QueryFailed, ValidationFailed
from lakeplane.interfaces import CheckStatus, EngineHandle, EngineState, Submission
from lakeplane.testing.contracts.engine import wait_for_state, wait_until_terminal
from lakeplane_trino import TrinoEngine, TrinoOptions, TrinoParams, TrinoSqlSpec

pytestmark = pytest.mark.trino

ROWS_200K = "SELECT x, y FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 20)) b(y)"
LONG_SQL = (
    "SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 10000)) b(y) "
    "CROSS JOIN UNNEST(sequence(1, 10000)) c(z) WHERE x * y + z = 7"
)


def submission(sql: str, **fields: object) -> Submission:
    values: dict[str, object] = {"run_id": "run_engine_test", "attempt": 1, "workspace": "test"}
    values.update(fields)
    return Submission(job_type="trino_sql", spec=TrinoSqlSpec(sql=sql), **values)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture(loop_scope="session")
async def unreachable() -> AsyncIterator[TrinoEngine]:
    params = TrinoParams(host="127.0.0.1", port=closed_port(), user=USER, request_timeout_s=2)
    async with TrinoEngine(params) as engine:
        yield engine


# -- checks -----------------------------------------------------------------------------


async def test_health_and_validate(trino: TrinoEngine) -> None:
    health = await trino.health()
    assert health.ok, health
    validation = await trino.validate()
    assert validation.ok, validation
    assert [c.name for c in validation.checks] == ["reachable", "credentials", "select_1"]


async def test_validate_checks_the_named_catalog_and_schema(trino_params: TrinoParams) -> None:
    def named(catalog: str, schema: str | None) -> TrinoParams:
        return msgspec.structs.replace(trino_params, catalog=catalog, schema=schema)

    async with TrinoEngine(named("system", "runtime")) as engine:
        result = await engine.validate()
    assert result.ok, result
    assert [c.name for c in result.checks][-2:] == ["catalog", "schema"]
    for catalog, schema, failing in (("nope", None, "catalog"), ("system", "nope", "schema")):
        async with TrinoEngine(named(catalog, schema)) as engine:
            result = await engine.validate()
        assert not result.ok
        assert result.checks[-1].name == failing
        assert result.checks[-1].status is CheckStatus.FAILED


# -- errors ---------------------------------------------------------------------------


async def test_an_unreachable_coordinator_is_engine_unavailable(unreachable: TrinoEngine) -> None:
    health = await unreachable.health()
    assert not health.ok
    assert "unreachable" in health.checks[0].message
    with pytest.raises(EngineUnavailable):
        await unreachable.execute("SELECT 1")
    with pytest.raises(EngineUnavailable):
        await unreachable.status(EngineHandle(engine="trino", id="20200101_000000_00000_lpctr"))
    with pytest.raises(EngineUnavailable):
        await unreachable.submit(submission("SELECT 1"))
    with pytest.raises(EngineUnavailable):
        await unreachable.list_active()


def https_params(server: DevTrino, password: str) -> TrinoParams:
    return TrinoParams(
        host=server.host,
        port=server.https_port,
        http_scheme="https",
        user=USER,
        password=password,
        verify_tls=False,
    )


async def test_basic_auth_over_https(dev_trino: DevTrino) -> None:
    async with TrinoEngine(https_params(dev_trino, dev_trino.password)) as engine:
        assert (await engine.execute("SELECT current_user")).rows == [[USER]]
        assert (await engine.validate()).ok
        handle = await engine.submit(submission("SELECT 1"))
        assert (await wait_until_terminal(engine, handle, 60)).state is EngineState.SUCCEEDED


async def test_a_wrong_password_is_bad_credentials(dev_trino: DevTrino) -> None:
    wrong = "not-the-password"
    async with TrinoEngine(https_params(dev_trino, wrong)) as engine:
        with pytest.raises(BadCredentials) as caught:
            await engine.execute("SELECT 1")
        assert wrong not in str(caught.value.detail)
        result = await engine.validate()
        assert [(c.name, c.status) for c in result.checks][-1] == ("credentials", CheckStatus.FAILED)
        assert all(wrong not in c.message for c in result.checks)
        with pytest.raises(BadCredentials):
            await engine.status(EngineHandle(engine="trino", id="20200101_000000_00000_lpctr"))


async def test_a_schema_needs_a_catalog(trino: TrinoEngine) -> None:
    with pytest.raises(ValidationFailed, match="catalog"):
        await trino.execute("SELECT 1", schema="tiny")


async def test_tags_that_cannot_be_client_tags_are_refused(trino: TrinoEngine) -> None:
    with pytest.raises(ValidationFailed):
        await trino.submit(submission("SELECT 1", tags={"team": "a,b"}))


# -- results and logs -------------------------------------------------------------------


async def test_results_page_through_everything_and_keep_a_preview(trino_params: TrinoParams) -> None:
    async with TrinoEngine(trino_params, TrinoOptions(preview_rows=500)) as engine:
        handle = await engine.submit(submission(ROWS_200K))
        assert (await wait_until_terminal(engine, handle, 120)).state is EngineState.SUCCEEDED
        preview = await engine.results(handle, limit=100)
        assert preview is not None
        assert preview.row_count == 200_000
        assert len(preview.rows) == 100
        assert [(c.name, c.type) for c in preview.columns] == [("x", "bigint"), ("y", "bigint")]
        assert len((await engine.results(handle, limit=10_000)).rows) == 500  # type: ignore[union-attr]
        log = (await engine.logs(handle)).text
        assert "FINISHED" in log
        assert "done reading results: 200000 rows" in log


async def test_another_process_sees_the_row_count_but_no_rows(
    trino: TrinoEngine, trino_params: TrinoParams
) -> None:
    handle = await trino.submit(submission("SELECT x FROM UNNEST(sequence(1, 42)) t(x)"))
    await wait_until_terminal(trino, handle, 60)
    await trino.results(handle)
    async with TrinoEngine(trino_params) as other:
        preview = await other.results(handle)
        assert preview is not None
        assert (preview.row_count, preview.rows, [c.name for c in preview.columns]) == (42, [], ["x"])
        log = (await other.logs(handle)).text
        assert f"query {handle.id} created by {USER}" in log
        assert "finished" in log
        status = await other.status(handle)
        assert status.stats["output_rows"] == 42
        assert status.stats["trino_state"] == "FINISHED"


async def test_handle_data(trino: TrinoEngine, trino_params: TrinoParams) -> None:
    handle = await trino.submit(submission("SELECT 1", run_id="run_handle", attempt=3))
    assert set(handle.data) == {"coordinator", "query_uri", "info_uri", "run_id", "attempt"}
    assert handle.data["coordinator"] == trino_params.base_url
    assert handle.data["query_uri"] == f"{trino_params.base_url}/v1/query/{handle.id}"
    assert (handle.data["run_id"], handle.data["attempt"]) == ("run_handle", 3)
    await wait_until_terminal(trino, handle, 60)


async def test_a_malformed_id_is_lost_without_asking(trino: TrinoEngine) -> None:
    for query_id in ("../v1/info", "x" * 30, ""):
        handle = EngineHandle(engine="trino", id=query_id)
        assert (await trino.status(handle)).state is EngineState.LOST
        await trino.cancel(handle)
        assert await trino.results(handle) is None


# -- session settings -------------------------------------------------------------------


async def test_session_properties_reach_trino(trino: TrinoEngine) -> None:
    spec = TrinoSqlSpec(sql=LONG_SQL, session_properties={"query_max_execution_time": "1s"})
    handle = await trino.submit(Submission("run_limits", 1, "test", "trino_sql", spec))
    status = await wait_until_terminal(trino, handle, 60)
    assert status.state is EngineState.FAILED
    assert status.message.startswith("EXCEEDED_TIME_LIMIT")


async def test_a_timeout_becomes_a_backstop_run_time_limit(
    trino: TrinoEngine, trino_params: TrinoParams
) -> None:
    handle = await trino.submit(submission("SELECT 1", timeout_s=30))
    await wait_until_terminal(trino, handle, 60)
    async with httpx.AsyncClient() as client:
        info = (
            await client.get(f"{trino_params.base_url}/v1/query/{handle.id}", headers={"X-Trino-User": USER})
        ).json()
    assert info["session"]["systemProperties"]["query_max_run_time"] == "90s"
    assert "lakeplane-run=run_engine_test" in info["session"]["clientTags"]
    assert info["session"]["source"] == "lakeplane"


async def test_cancelling_execute_kills_its_untagged_query(trino: TrinoEngine) -> None:
    marker = f"-- lakeplane-test {uuid.uuid4().hex}"
    running = asyncio.create_task(trino.execute(f"{LONG_SQL} {marker}"))
    await asyncio.sleep(1.5)
    assert all(work.run_id for work in await trino.list_active())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    left = [
        q for q in await trino.http.queries() if marker in q.query and q.state not in ("FINISHED", "FAILED")
    ]
    assert left == []


async def test_a_closed_engine_leaves_the_query_for_another_to_cancel(trino: TrinoEngine) -> None:
    handle = await trino.submit(submission(LONG_SQL, run_id="run_orphan"))
    await wait_for_state(trino, handle, [EngineState.RUNNING], 60)
    await trino.close()  # stops reading results, as a worker that exits would
    await trino.open()
    assert (await trino.status(handle)).state is EngineState.RUNNING
    assert "run_orphan" in [work.run_id for work in await trino.list_active()]
    await trino.cancel(handle)
    assert (await wait_until_terminal(trino, handle, 60)).state is EngineState.CANCELLED


async def test_failures_while_running_are_query_failed(trino: TrinoEngine) -> None:
    with pytest.raises(QueryFailed, match="GENERIC_USER_ERROR: boom"):
        await trino.execute("SELECT fail(:why)", {"why": "boom"})
