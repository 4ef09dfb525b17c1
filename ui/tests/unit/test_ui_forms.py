"""The entity forms: one object reads a posted form for create and edit alike."""

from __future__ import annotations

import msgspec
import pytest

from lakeplane.builtins.noop import NoopEngine, NoopSpec
from lakeplane.domain.jobs.schemas import JobCreate, JobUpdate
from lakeplane.errors import Conflict, ValidationFailed
from lakeplane.interfaces import Engine, Secret
from lakeplane_ui import forms

NOOP_FIELDS = forms.struct_fields(NoopSpec)
POSTED = {
    "name": " nightly ",
    "d.delay_s": "1.5",
    "d.message": "hi",
    "param.0.name": "day",
    "param.0.type": "date",
    "param.0.default": "2026-01-01",
    "param.1.name": "",
    "queue": "",
    "max_attempts": "",
    "retry_backoff_s": "",
    "timeout_s": "",
    "max_concurrency": "",
    "connection_id": "",
}


def test_a_new_job_and_a_new_version_read_the_same_inputs():
    new = forms.JobForm.read(POSTED, "noop", NOOP_FIELDS, new=True)
    edit = forms.JobForm.read(POSTED, "noop", NOOP_FIELDS, new=False)
    assert new.errors == edit.errors == {}
    created = new.create()
    assert isinstance(created, JobCreate)
    assert created.name == "nightly" and created.type == "noop"
    assert created.definition == {"delay_s": 1.5, "message": "hi"}
    assert [(p.name, p.type, p.default) for p in created.parameters] == [("day", "date", "2026-01-01")]
    # Blank settings take the schema's defaults on a new job ...
    assert (created.queue, created.max_attempts, created.retry_backoff_s) == ("default", 1, 10.0)
    updated = edit.update()
    assert isinstance(updated, JobUpdate)
    assert updated.definition == created.definition and updated.parameters == created.parameters
    # ... while on a new version blank attempts and backoff keep the current ones, and a
    # blank connection, timeout or concurrency clears them.
    assert updated.max_attempts is None and updated.retry_backoff_s is None
    assert updated.connection_id is None and updated.timeout_s is None and updated.max_concurrency is None


def test_only_a_new_job_must_be_named():
    unnamed = {**POSTED, "name": ""}
    assert forms.JobForm.read(unnamed, "noop", NOOP_FIELDS, new=True).errors == {"name": "required"}
    edit = forms.JobForm.read(unnamed, "noop", NOOP_FIELDS, new=False)
    assert edit.errors == {} and edit.update().name is None


def test_job_form_errors_sit_by_their_input():
    posted = {**POSTED, "d.delay_s": "soon", "param.0.default": "not-a-date", "max_attempts": "many"}
    errors = forms.JobForm.read(posted, "noop", NOOP_FIELDS, new=True).errors
    assert set(errors) == {"d.delay_s", "param.0.default", "max_attempts"}
    assert errors["max_attempts"] == "a number"
    rows = forms.JobForm.rows_as_sent(posted)
    assert [r["name"] for r in rows] == ["day", ""] and rows[0]["default"] == "not-a-date"


def test_a_refused_job_save_names_its_inputs():
    with pytest.raises(msgspec.ValidationError) as schema:
        forms.JobForm.read({**POSTED, "max_attempts": "0"}, "noop", NOOP_FIELDS, new=True).create()
    assert forms.JobForm.save_errors(schema.value) == (
        {"max_attempts": "Expected int >= 1"},
        forms.FIX_FIELDS,
    )
    refused = ValidationFailed("bad", [{"field": "definition.delay_s", "message": "too long"}])
    assert forms.JobForm.save_errors(refused) == ({"d.delay_s": "too long"}, "bad")
    assert forms.JobForm.save_errors(Conflict("taken")) == ({"name": "taken"}, "taken")


def test_the_editor_shows_a_stored_version_as_it_would_post_it():
    class Version:
        definition = {"delay_s": 0.5, "fail": True, "message": None, "extra": {"a": 1}}
        queue, max_attempts, retry_backoff_s, timeout_s, max_concurrency = "q", 3, 2.0, None, None
        connection_id = None

    class Job:
        name = "nightly"

    sent = forms.JobForm.of_version(Job(), Version(), '"tag"')
    assert sent["d.delay_s"] == "0.5" and sent["d.fail"] == "true" and sent["d.extra"] == '{"a": 1}'
    assert "d.message" not in sent
    assert (sent["retry_backoff_s"], sent["timeout_s"], sent["etag"]) == ("2", "", '"tag"')


def test_job_type_labels_come_from_the_engines():
    assert NoopEngine.job_type_label("noop") == "No-op (testing)"
    # A type the engine gives no label is called by its name.
    assert Engine.job_type_label("spark_batch") == "Spark batch"
    assert Engine.job_type_label("iceberg-maintenance") == "Iceberg maintenance"


class ConnParams(msgspec.Struct):
    host: str
    port: int | None = None
    password: Secret | None = None


def test_a_connection_edit_clears_a_blank_optional_parameter_and_keeps_a_blank_secret():
    fields = forms.struct_fields(ConnParams)
    sent = {"name": "", "p.host": "db", "p.port": "", "p.password": ""}
    new = forms.ConnectionForm.read(sent, fields, new=True)
    assert new.errors == {"name": "required"} and new.params == {"host": "db"}
    edit = forms.ConnectionForm.read(sent, fields, new=False)
    assert edit.errors == {} and edit.params == {"host": "db", "port": None}
    # ``None`` clears only what is stored.
    assert edit.update(stored={"host"}).params == {"host": "db"}
    assert edit.update(stored={"host", "port"}).params == {"host": "db", "port": None}
    assert edit.update(stored=set()).name is None


def test_a_dataset_form_registers_by_location_or_by_catalog_and_edits_the_same_fields():
    sent = {"name": " readings ", "owner": " energy ", "tags": "b; a, b", "description": "d"}
    by_location = forms.DatasetForm({**sent, "location": " s3://lake/readings "}).create()
    assert by_location.location == "s3://lake/readings" and by_location.connection_id is None
    assert (by_location.name, by_location.owner, by_location.tags) == ("readings", "energy", ["a", "b"])
    by_catalog = forms.DatasetForm(
        {**sent, "connection_id": "conn_1", "namespace": "demo.sub", "table": "t"}
    ).create()
    assert by_catalog.namespace == ["demo", "sub"] and by_catalog.table == "t"
    edited = forms.DatasetForm(sent).update()
    assert (edited.owner, edited.tags, edited.description) == ("energy", ["a", "b"], "d")


def test_a_user_form_creates_and_edits_the_same_profile():
    sent = {"username": " ada ", "display_name": "Ada", "email": " ", "is_admin": "1", "password": "pw-123"}
    person = forms.UserForm(sent).create()
    assert (person.username, person.email, person.is_admin, person.password) == ("ada", None, True, "pw-123")
    robot = forms.UserForm({**sent, "is_service_account": "1"}).create()
    assert robot.is_service_account and robot.password is None
    edited = forms.UserForm({**sent, "disabled": "1"}).update()
    assert (edited.display_name, edited.email, edited.is_admin, edited.disabled) == ("Ada", None, True, True)
