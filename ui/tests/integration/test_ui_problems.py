"""Pages answer errors as the API's problem mapping does, and offer the engines' job types."""

from __future__ import annotations

from lakeplane_ui import forms


async def test_a_refused_query_is_the_apis_problem_shown_as_a_page(signed_in, workspace):
    viewer, _, _ = await signed_in(roles={workspace.id: "viewer"})
    page = await viewer.get(f"/ui/w/{workspace.slug}/jobs?limit=0")
    api = await viewer.get(f"/api/v1/workspaces/{workspace.slug}/jobs?limit=0")
    assert page.status_code == api.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert f'role="alert">{api.json()["detail"]}<' in page.text


async def test_the_job_type_chooser_lists_the_engines_types(signed_in, workspace, lakeplane_services):
    editor, _, _ = await signed_in(roles={workspace.id: "editor"})
    page = await editor.get(f"/ui/w/{workspace.slug}/jobs/new")
    types = forms.JobTypes.of(lakeplane_services)
    assert types.enabled["noop"] == "No-op (testing)"
    for job_type, label in types.known.items():
        offered = f'<option value="{job_type}">{label}</option>'
        shown = f'<option value="{job_type}" disabled>{label} (no engine enabled)</option>'
        assert (offered if job_type in types.enabled else shown) in page.text
