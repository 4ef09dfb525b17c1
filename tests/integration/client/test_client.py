"""``lakeplane.client`` against a served app: every resource, pages, errors, retries."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from lakeplane import errors
from lakeplane.client import AsyncClient, Client, IncompatibleServer, RetryPolicy, ServerUnreachable
from lakeplane.db.models import ThrottleBucket
from lakeplane.domain.auth import throttle
from lakeplane.local.ports import free_ports
from lakeplane.testing.app import make_user
from lakeplane.timeutil import utcnow

from .conftest import PASSWORD, Served, serve


def slug() -> str:
    return f"c-{secrets.token_hex(4)}"


@pytest.fixture
def client(served: Served) -> Iterator[Client]:
    with Client(served.url, served.token) as lp:
        yield lp


def test_the_demo_steps_through_the_sync_client(client: Client) -> None:
    ws = client.workspaces.create(slug(), "Client test")
    assert client.workspaces.get(ws.slug).id == ws.id
    conn = client.connections.create(
        ws.slug,
        "files",
        "object_store",
        "s3",
        {"endpoint_url": "http://127.0.0.1:1", "access_key_id": "k", "secret_access_key": "s"},
    )
    assert [c.id for c in client.connections.list(ws.slug)] == [conn.id]
    job = client.jobs.create(ws.slug, "noop-job", "noop", {"message": "one"})
    assert client.jobs.get(ws.slug, job.id).current_version == 1
    client.jobs.update(ws.slug, job.id, definition={"message": "two"})
    assert [v.version for v in client.jobs.versions(ws.slug, job.id)] == [2, 1]
    assert client.jobs.version(ws.slug, job.id, 2).definition == {"message": "two"}

    run = client.runs.submit(ws.slug, job.id)
    seen: list[str] = []
    done = client.runs.wait(ws.slug, run.id, timeout=60, poll=0.1, on_update=lambda r: seen.append(r.state))
    assert done.state == "succeeded", done
    assert seen[-1] == "succeeded"
    logs = "".join(client.runs.follow_logs(ws.slug, run.id, poll=0.1))
    assert logs == client.runs.logs(ws.slug, run.id).text
    rerun = client.runs.rerun(ws.slug, run.id)
    assert rerun.rerun_of == run.id
    assert {r.id for r in client.runs.list(ws.slug)} == {run.id, rerun.id}
    assert [r.id for r in client.runs.list(ws.slug, state="queued", job_id=job.id)] in ([], [rerun.id])

    sched = client.schedules.create(ws.slug, job.id, "0 3 * * *", paused=True)
    assert client.schedules.get(ws.slug, sched.id).schedule.paused
    assert not client.schedules.resume(ws.slug, sched.id).paused
    assert [s.id for s in client.schedules.list(ws.slug, job_id=job.id)] == [sched.id]
    client.schedules.delete(ws.slug, sched.id)
    with pytest.raises(errors.NotFound):
        client.schedules.get(ws.slug, sched.id)

    ds = client.datasets.create(ws.slug, "meters", "ops", location="s3://lake/meters")
    assert client.datasets.update(ws.slug, ds.id, tags=["energy"]).tags == ["energy"]
    assert [d.id for d in client.datasets.list(ws.slug, tag="energy")] == [ds.id]
    client.datasets.delete(ws.slug, ds.id)
    client.connections.delete(ws.slug, conn.id)
    assert list(client.connections.list(ws.slug)) == []


def test_submit_with_one_idempotency_key_makes_one_run(client: Client) -> None:
    ws = client.workspaces.create(slug(), "idem")
    job = client.jobs.create(ws.slug, "noop-job", "noop", {})
    key = secrets.token_hex(8)
    first = client.runs.submit(ws.slug, job.id, idempotency_key=key)
    again = client.runs.submit(ws.slug, job.id, idempotency_key=key)
    other = client.runs.submit(ws.slug, job.id)
    assert first.id == again.id
    assert first.idempotency_key == key
    assert other.id != first.id and other.idempotency_key not in (None, key)


def test_lists_follow_the_cursor_across_pages(served: Served) -> None:
    requests: list[str] = []
    with Client(served.url, served.token, page_size=2) as lp:
        lp._http.event_hooks["request"].append(lambda r: requests.append(str(r.url)))
        ws = lp.workspaces.create(slug(), "pages")
        made = [lp.jobs.create(ws.slug, f"job-{i}", "noop", {}).id for i in range(5)]
        requests.clear()
        listed = [j.id for j in lp.jobs.list(ws.slug)]
    assert listed == sorted(made)
    assert len(requests) == 3
    assert "cursor=" not in requests[0] and all("cursor=" in r for r in requests[1:])


async def test_the_async_client_runs_a_job(served: Served) -> None:
    async with AsyncClient(served.url, served.token, page_size=1) as lp:
        ws = await lp.workspaces.create(slug(), "async")
        job = await lp.jobs.create(ws.slug, "noop-job", "noop", {"message": "async"})
        runs = [await lp.runs.submit(ws.slug, job.id) for _ in range(2)]
        done = [await lp.runs.wait(ws.slug, r.id, poll=0.1) for r in runs]
        assert [r.state for r in done] == ["succeeded", "succeeded"]
        assert sorted([r.id async for r in lp.runs.list(ws.slug)]) == sorted(r.id for r in runs)
        chunks = [c async for c in lp.runs.follow_logs(ws.slug, runs[0].id, poll=0.1)]
        assert "".join(chunks) == (await lp.runs.logs(ws.slug, runs[0].id)).text
        with pytest.raises(errors.NotFound) as missing:
            await lp.jobs.get(ws.slug, "job_missing")
        assert missing.value.extra["status"] == 404


def test_problems_raise_their_error_class(served: Served, client: Client) -> None:
    ws = client.workspaces.create(slug(), "errors")
    with pytest.raises(errors.NotFound) as not_found:
        client.runs.get(ws.slug, "run_missing")
    assert not_found.value.detail and not_found.value.extra["title"]
    with pytest.raises(errors.Conflict):
        client.workspaces.create(ws.slug, "again")
    with pytest.raises(errors.ValidationFailed) as invalid:
        client.workspaces.create("Not A Slug!", "bad")
    assert invalid.value.extra["errors"], invalid.value.extra
    with Client(served.url, "lp_" + "x" * 43) as stranger, pytest.raises(errors.NotAuthenticated):
        list(stranger.workspaces.list())


async def test_permission_denied_for_a_non_admin(served: Served) -> None:
    async with served.lp.sessions() as db:
        _, token = await make_user(db, f"viewer-{secrets.token_hex(3)}")
    async with AsyncClient(served.url, token) as lp:
        with pytest.raises(errors.PermissionDenied):
            await lp.workspaces.create(slug(), "nope")


async def _lock(served: Served, username: str) -> None:
    with Client(served.url) as lp:
        for _ in range(5):
            with pytest.raises(errors.NotAuthenticated):
                lp.login(username, "wrong password")


async def test_retry_after_is_honoured_then_bounded(served: Served) -> None:
    await _lock(served, served.username)
    started = time.monotonic()
    with (
        Client(served.url, retry=RetryPolicy(max_wait=5)) as lp,
        pytest.raises(errors.TooManyRequests) as refused,
    ):
        lp.login(served.username, PASSWORD)
    assert refused.value.retry_after > 5, "a wait beyond max_wait is raised, not slept"
    assert time.monotonic() - started < 5

    key = throttle.limits_for(served.username, None)[0].key
    async with served.lp.sessions() as db, db.begin():
        await db.execute(
            update(ThrottleBucket)
            .where(ThrottleBucket.key == key)
            .values(locked_until=utcnow() + dt.timedelta(seconds=2))
        )
    started = time.monotonic()
    with Client(served.url, retry=RetryPolicy(max_wait=5)) as lp:
        token = lp.login(served.username, PASSWORD)
        assert lp.me().username == served.username
    assert token.startswith("lp_")
    assert time.monotonic() - started >= 1, "the client waited out Retry-After"


class _Foreign(http.server.BaseHTTPRequestHandler):
    openapi: dict[str, Any] | None = None

    def do_GET(self) -> None:
        if self.path == "/api/openapi.json" and self.openapi is not None:
            body, kind, status = json.dumps(self.openapi).encode(), "application/json", 200
        else:
            body, kind, status = b"<html>nginx</html>", "text/html", 404
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(openapi: dict[str, Any] | None) -> Iterator[str]:
    handler = type("Handler", (_Foreign,), {"openapi": openapi})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_lakeplane_is_named() -> None:
    for url in _serve(None):
        with Client(url, "lp_x") as lp:
            with pytest.raises(IncompatibleServer, match="is not a Lakeplane API server"):
                lp.server()
            with pytest.raises(IncompatibleServer, match="text/html"):
                lp.workspaces.get("demo")


def test_an_incompatible_lakeplane_version_is_named() -> None:
    document = {"info": {"title": "Lakeplane API", "version": "9.0.0"}, "paths": {"/api/v2/runs": {}}}
    for url in _serve(document):
        with Client(url) as lp, pytest.raises(IncompatibleServer, match=r"9\.0\.0"):
            lp.server()


def test_the_served_app_is_a_compatible_lakeplane(client: Client) -> None:
    assert client.server().title == "Lakeplane API"


def test_no_answer_is_server_unreachable() -> None:
    (port,) = free_ports(1)
    with Client(f"http://127.0.0.1:{port}", retry=RetryPolicy(backoff=0.01)) as lp:
        with pytest.raises(ServerUnreachable, match=str(port)):
            list(lp.workspaces.list())


async def test_following_logs_reads_on_across_the_move_to_the_object_store(
    postgres_url: str, seaweedfs_service: Any, tmp_path: Path
) -> None:
    store = seaweedfs_service.s3_options()
    async with serve(postgres_url, tmp_path, store) as served, AsyncClient(served.url, served.token) as lp:
        ws = await lp.workspaces.create(slug(), "logs")
        job = await lp.jobs.create(ws.slug, "slow", "noop", {"delay_s": 2, "message": "done"})
        run = await lp.runs.submit(ws.slug, job.id)
        sources: list[str] = []
        chunks: list[str] = []
        async for text in lp.runs.follow_logs(ws.slug, run.id, poll=0.2):
            chunks.append(text)
            sources.append((await lp.runs.logs(ws.slug, run.id)).source)
        whole = await lp.runs.logs(ws.slug, run.id)
        assert whole.source == "object_store" and whole.complete
        assert "database" in sources, "some of the log was read while the run was live"
        assert "".join(chunks) == whole.text
