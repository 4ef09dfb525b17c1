"""Run logs reach the platform object store with their checksum, secrets redacted."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from lakeplane.domain.runs import logstore
from lakeplane.domain.runs import services as runs

from .conftest import make_env


async def test_log_is_copied_to_the_object_store_with_its_checksum(
    postgres_service: Any, seaweedfs_service: Any, tmp_path: Path
) -> None:
    store = seaweedfs_service.s3_options()
    env = await make_env(postgres_service.url, tmp_path, object_store=store)
    try:
        worker = env.start_worker(concurrency=2)
        await worker.ready()
        job = await env.job(message="finished; token ghp_" + "a" * 36)
        (run_id,) = await env.submit(job, 1)
        await env.wait_for(lambda: env.all_terminal([run_id]), 60, "the run")
        (run,) = await env.runs([run_id])
        assert run.state == "succeeded"
        assert (
            run.log_uri
            == f"lakeplane-store://{seaweedfs_service.bucket}/runs/{env.workspace_id}/{run_id}/log.txt"
        )
        stored = await logstore.download(env.lp, run.log_uri)
        assert hashlib.sha256(stored).hexdigest() == run.log_sha256
        text = stored.decode()
        assert "submitted to noop" in text and "ended: succeeded" in text
        assert "ghp_" not in text and "[REDACTED]" in text
        async with env.lp.sessions() as db:
            served = await runs.logs(db, env.lp, env.workspace_id, run_id)
        assert served.source == "object_store" and served.complete and served.text == text
    finally:
        env.stop_all()
        await env.lp.engine.dispose()
