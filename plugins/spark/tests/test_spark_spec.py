"""Job definitions: decoding, conf rules, limits of the connection."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import Submission
from lakeplane_spark import SparkBatchSpec, SparkEngine, SparkParams
from lakeplane_spark.spec import check_against, check_conf, decode_spec

PARAMS = SparkParams(
    catalog_uri="http://127.0.0.1:8181",
    warehouse="s3://lake/",
    s3_endpoint="http://127.0.0.1:8333",
    s3_access_key_id="key",
    s3_secret_access_key="secret-value",
    max_executor_memory="4g",
)


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in exc.value.extra["errors"]}


def test_a_full_definition_decodes() -> None:
    spec = decode_spec(
        {
            "application": "s3://jobs/ingest.py",
            "args": ["s3://raw/x.csv", "lake.energy.readings"],
            "conf": {"spark.sql.shuffle.partitions": "8"},
            "resources": {"executor_memory": "2g", "executor_instances": 2},
            "packages": ["org.example:thing:1.0"],
        }
    )
    check_against(spec, PARAMS)
    assert spec.resources.executor_memory == "2g"


@pytest.mark.parametrize(
    "application",
    ["ingest.py", "s3://jobs/ingest.jar", "file:///etc/passwd.py", "http://x/y.py", "local://relative.py"],
)
def test_applications_must_be_python_in_s3_or_local(application: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_spec({"application": application})
    assert "application" in caught.value.detail


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("spark..x", "not a Spark conf key"),
        ("spark.app.name\n", "not a Spark conf key"),
        ("hadoop.fs.s3a.secret.key", "not a Spark conf key"),
        ("spark.sql.catalog.lake.uri", "set by the platform"),
        ("spark.sql.catalog.lake", "set by the platform"),
        ("spark.sql.catalog.other.credential", "set by the platform"),
        ("spark.hadoop.fs.s3a.secret.key", "set by the platform"),
        ("spark.executor.memory", "set by the platform"),
        ("spark.master", "set by the platform"),
        ("spark.jars.packages", "set by the platform"),
    ],
)
def test_bad_or_reserved_conf_keys_are_refused(key: str, why: str) -> None:
    errors = check_conf({key: "x"}, "lake")
    assert errors and why in errors[0]["message"]
    with pytest.raises(ValidationFailed) as caught:
        # Keys refused without knowing the connection fail at decoding, the rest at submit.
        check_against(decode_spec({"application": "s3://jobs/a.py", "conf": {key: "x"}}), PARAMS)
    assert key in caught.value.detail


def test_executor_memory_above_the_connection_limit_is_refused() -> None:
    spec = decode_spec({"application": "s3://jobs/a.py", "resources": {"executor_memory": "16g"}})
    with pytest.raises(ValidationFailed) as caught:
        check_against(spec, PARAMS)
    assert errors_of(caught) == {"resources.executor_memory": "at most 4g on this connection"}


async def test_submit_refuses_before_starting_anything() -> None:
    async with SparkEngine(PARAMS) as engine:
        raw = {
            "application": "local:///nowhere/app.py",
            "conf": {"spark.sql.catalog.lake.uri": "http://evil"},
        }
        with pytest.raises(ValidationFailed):
            await engine.submit(Submission("run_x", 1, "demo", "spark_batch", raw))
        spec = decode_spec({"application": "local:///nowhere/app.py", "resources": {"executor_memory": "5g"}})
        with pytest.raises(ValidationFailed) as caught:
            await engine.submit(Submission("run_x", 1, "demo", "spark_batch", spec))
        assert "resources.executor_memory" in errors_of(caught)


@given(st.dictionaries(st.text(max_size=30), st.text(max_size=30), max_size=5))
def test_conf_checking_never_crashes(conf: dict[str, str]) -> None:
    for error in check_conf(conf, "lake"):
        assert error["field"].startswith("conf.")


def test_spec_round_trips_through_json() -> None:
    spec = decode_spec({"application": "local:///opt/app/job.py", "args": ["a"]})
    assert msgspec.json.decode(msgspec.json.encode(spec), type=SparkBatchSpec) == spec


def test_decoding_names_the_offending_fields() -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_spec({"application": "s3://jobs/a.py", "conf": {"spark..x": "1", "spark.master": "yarn"}})
    assert set(errors_of(caught)) == {"conf.spark..x", "conf.spark.master"}
    with pytest.raises(ValidationFailed) as caught:
        decode_spec({"application": "s3://jobs/a.py", "resources": {"executor_memory": "lots"}})
    assert set(errors_of(caught)) == {"resources.executor_memory"}
