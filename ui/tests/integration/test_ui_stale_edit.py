"""A job edit form carries the job's ETag: saving a form read before someone else's save
answers 412 with the editor and a message, and the other save stays."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from lakeplane.db.models import Job

pytestmark = pytest.mark.asyncio(loop_scope="session")

JOB_LINK = re.compile(r"/jobs/(job_[A-Z0-9]+)")
ETAG_FIELD = re.compile(r'name="etag" value="([^"]+)"')


def form(csrf, name, tag):
    return {
        "csrf_token": csrf,
        "type": "noop",
        "name": name,
        "d.delay_s": "0",
        "d.fail": "false",
        "d.message": f"saved as {name}",
        "queue": "default",
        "max_attempts": "1",
        "retry_backoff_s": "10",
        "etag": tag,
    }


async def test_stale_job_edit_is_refused_and_overwrites_nothing(signed_in, workspace, lakeplane_services):
    editor, csrf, _ = await signed_in(roles={workspace.id: "editor"})
    created = await editor.post(f"/ui/w/{workspace.slug}/jobs/new", data=form(csrf, "first", ""))
    assert created.status_code == 303, created.text
    job_id = JOB_LINK.search(created.headers["location"])[1]
    edit_url = f"/ui/w/{workspace.slug}/jobs/{job_id}/edit"

    mine = ETAG_FIELD.search((await editor.get(edit_url)).text)
    theirs = ETAG_FIELD.search((await editor.get(edit_url)).text)
    assert mine and theirs and mine[1] == theirs[1]

    saved = await editor.post(edit_url, data=form(csrf, "theirs", html.unescape(theirs[1])))
    assert saved.status_code == 303, saved.text

    stale = await editor.post(edit_url, data=form(csrf, "mine", html.unescape(mine[1])))
    assert stale.status_code == 412, stale.text
    assert "text/html" in stale.headers["content-type"]
    assert "was changed by someone else since it was read" in stale.text
    assert 'value="saved as mine"' in stale.text  # the form as sent, to copy from

    async with lakeplane_services.sessions() as db:
        assert await db.scalar(select(Job.name).where(Job.id == job_id)) == "theirs"

    fresh = ETAG_FIELD.search((await editor.get(edit_url)).text)
    assert fresh and fresh[1] != mine[1]
    again = await editor.post(edit_url, data=form(csrf, "mine", html.unescape(fresh[1])))
    assert again.status_code == 303, again.text
