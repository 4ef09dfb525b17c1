"""Planted secrets never come out: not in a log line of the API or the worker, a run log, or an answer.

A real ``lakeplane serve`` and ``lakeplane worker`` run with JSON logs and the access log on.
Connection secrets, API tokens and passwords are used as a person would (and pushed where
they could leak: paths, query strings, job output), in plain, base64 and URL-encoded forms.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from lakeplane.local.ports import free_ports
from lakeplane.security.redact import encoded_forms
from lakeplane.testing.app import make_user
from lakeplane.testing.fixtures import wait_http
from lakeplane.testing.processes import start_lakeplane

from .conftest import make_env


async def test_no_planted_secret_reaches_a_log_line_run_log_or_answer(
    postgres_service: Any, seaweedfs_service: Any, tmp_path: Path
) -> None:
    env = await make_env(postgres_service.url, tmp_path, object_store=seaweedfs_service.s3_options())
    with env.config_path.open("a") as config:
        config.write("[logging]\njson = true\naccess_log = true\n")
    (port,) = free_ports(1)
    api_log = tmp_path / "api.log"
    api = start_lakeplane(["serve", "--config", str(env.config_path), "--port", str(port)], api_log)
    connection_secret = "conn-" + secrets.token_urlsafe(18)
    password, new_password = "pw-" + secrets.token_urlsafe(12), "pw2-" + secrets.token_urlsafe(12)
    answers: list[str] = []
    try:
        worker = env.start_worker(concurrency=2)
        async with env.lp.sessions() as db:
            _, token = await make_user(db, f"admin-{secrets.token_hex(3)}", is_admin=True)
        await worker.ready()
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_http, f"{base}/health/ready", api, api_log)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {token}"

            async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
                resp = await http.request(method, path, **kwargs)
                answers.append(resp.text)
                return resp

            ws = (
                await call(
                    "POST", "/api/v1/workspaces", json={"slug": "sec-" + secrets.token_hex(3), "name": "s"}
                )
            ).json()
            wsp = f"/api/v1/workspaces/{ws['id']}"
            params = {**seaweedfs_service.s3_options(), "secret_access_key": connection_secret}
            conn = (
                await call(
                    "POST",
                    f"{wsp}/connections",
                    json={"name": "lake", "role": "object_store", "plugin": "s3", "params": params},
                )
            ).json()
            await call("GET", f"{wsp}/connections")
            await call("GET", f"{wsp}/connections/{conn['id']}")
            await call("POST", f"{wsp}/connections/{conn['id']}/test")
            await call(
                "PATCH",
                f"{wsp}/connections/{conn['id']}",
                json={"params": {"secret_access_key": connection_secret + "x"}},
            )
            # Where a careless client puts a secret: the path and the query string.
            for form in (
                connection_secret,
                base64.b64encode(connection_secret.encode()).decode(),
                urllib.parse.quote(connection_secret),
            ):
                await call("GET", f"/api/v1/workspaces/{urllib.parse.quote(form, safe='')}")
                await call("GET", "/api/v1/workspaces", params={"token": token, "secret": form})
            user = (
                await call("POST", "/api/v1/users", json={"username": "carol", "password": password})
            ).json()
            async with httpx.AsyncClient(base_url=base, timeout=30) as person:
                login = await person.post(
                    "/api/v1/auth/login", json={"username": "carol", "password": password}
                )
                answers.append(login.text)
                assert login.status_code == 200, login.text
                csrf = login.json().get("csrf_token")
                changed = await person.post(
                    "/api/v1/auth/password",
                    json={"current_password": password, "new_password": new_password},
                    headers={"X-CSRF-Token": csrf} if csrf else {},
                )
                answers.append(changed.text)
                wrong = await person.post(
                    "/api/v1/auth/login", json={"username": "carol", "password": password}
                )
                answers.append(wrong.text)
            bot = (
                await call("POST", "/api/v1/users", json={"username": "bot", "is_service_account": True})
            ).json()
            created = await http.post(f"/api/v1/users/{bot['id']}/tokens", json={"name": "ci"})
            bot_token = created.json()["token"]  # shown once, in this answer only, by design
            probe = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {bot_token}x"})
            async with probe:
                answers.append((await probe.get("/api/v1/workspaces")).text)
            aws_key = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
            message = f"done; token {bot_token} key {aws_key}"
            # The job's definition is the caller's own text and comes back as given; its output must not.
            job = (
                await http.post(
                    f"{wsp}/jobs", json={"name": "leaky", "type": "noop", "definition": {"message": message}}
                )
            ).json()
            run = (await call("POST", f"{wsp}/jobs/{job['id']}/runs", json={})).json()
            await env.wait_for(lambda: env.all_terminal([run["id"]]), 60, "the run")
            run_log = (await call("GET", f"{wsp}/runs/{run['id']}/logs")).json()
            await call("GET", f"{wsp}/runs/{run['id']}")
            await call("GET", "/api/v1/audit")
            assert user["username"] == "carol"
    finally:
        api.terminate()
        api.wait(timeout=30)
        env.stop_all()
        await env.lp.engine.dispose()

    assert "[REDACTED]" in run_log["text"], run_log
    planted = [connection_secret, connection_secret + "x", token, bot_token, password, new_password, aws_key]
    forms = {form for secret in planted for form in encoded_forms(secret)}
    texts = {"api log": api_log.read_text(), "worker log": worker.log(), "run log": run_log["text"]}
    texts |= {f"answer {n}": text for n, text in enumerate(answers)}
    for where, text in texts.items():
        leaked = sorted(form for form in forms if form in text)
        assert not leaked, f"{where} holds {leaked[0][:6]}…"

    # The logs are JSON lines with the context filled in where it is known.
    lines = [json.loads(line) for line in texts["api log"].splitlines() if line.startswith("{")]
    assert lines and all({"timestamp", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "lakeplane.access"]
    assert any(
        line.get("user_id") and line.get("request_id") and line["http"]["status"] == 201 for line in access
    )
    worker_lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert any(line.get("run_id") == run["id"] for line in worker_lines), worker.log()[-2000:]
