"""A job, connection or dataset edit form carries the resource's ETag: saving (or deleting
from) a page read before someone else's save answers 412 with a message, and the other save
stays."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from lakeplane.db.models import Connection, Dataset, Job
from lakeplane_ui.testing import noop_job_form, trino_params

pytestmark = pytest.mark.asyncio(loop_scope="session")

JOB_LINK = re.compile(r"/jobs/(job_[A-Z0-9]+)")
ETAG_FIELD = re.compile(r'name="etag" value="([^"]+)"')


def form(csrf, name, tag):
    return noop_job_form(csrf, name, message=f"saved as {name}", etag=tag)


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


TRINO_PARAMS = trino_params()


@pytest.mark.parametrize(
    ("new_path", "created_with", "edited_with", "model"),
    [
        pytest.param(
            "connections/new",
            {"plugin": "engine:trino", "name": "trino-etag", **TRINO_PARAMS},
            {"name": "trino-etag", **TRINO_PARAMS},
            Connection,
            id="connection",
        ),
        pytest.param(
            "datasets",
            {"name": "ledger-etag", "owner": "finance", "location": "s3://lake/l"},
            {"owner": "finance", "tags": ""},
            Dataset,
            id="dataset",
        ),
    ],
)
async def test_stale_edit_and_delete_are_refused(
    signed_in, workspace, lakeplane_services, new_path, created_with, edited_with, model
):
    editor, csrf, _ = await signed_in(roles={workspace.id: "editor"})
    created = await editor.post(
        f"/ui/w/{workspace.slug}/{new_path}", data={"csrf_token": csrf, **created_with}
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"].split("?")[0]
    resource_id = url.rsplit("/", 1)[1]
    tags = {html.unescape(t) for t in ETAG_FIELD.findall((await editor.get(url)).text)}
    assert len(tags) == 1  # the edit and the delete form carry the same tag
    (tag,) = tags

    def edit_form(text):
        return {"csrf_token": csrf, **edited_with, "description": text, "etag": tag}

    assert (await editor.post(url, data=edit_form("theirs"))).status_code == 303
    stale = await editor.post(url, data=edit_form("mine"))
    assert stale.status_code == 412, stale.text
    assert "was changed by someone else since it was read" in stale.text
    refused = await editor.post(f"{url}/delete", data={"csrf_token": csrf, "etag": tag})
    assert refused.status_code == 412, refused.text

    async with lakeplane_services.sessions() as db:
        found = await db.scalar(select(model.description).where(model.id == resource_id))
    assert found == "theirs"
