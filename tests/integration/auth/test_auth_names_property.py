"""Whatever a caller types as a user name, sign-in answers 4xx and the audit log stays one line per event."""

from __future__ import annotations

import json
import logging
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NASTY = st.one_of(
    st.text(max_size=160),
    st.sampled_from(["' OR 1=1 --", "<img src=x onerror=alert(1)>", "a\r\nb", "\x00", "\u2028", "admin"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(username=NASTY, password=st.text(min_size=1, max_size=40))
async def test_any_user_name_gets_a_4xx_and_a_one_line_audit_record(
    fresh: Any, clients: Any, caplog: Any, username: str, password: str
) -> None:
    app, _ = fresh
    client = await clients(app)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lakeplane.audit"):
        resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status_code in (400, 401, 422, 429), resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    for record in caplog.records:
        if record.name != "lakeplane.audit":
            continue
        line = record.getMessage()
        assert not any(ch in line for ch in "\r\n\x85\u2028\u2029")
        event = json.loads(line.removeprefix("audit "))
        if event["action"] == "auth.login" and event["actor_id"] is None:
            assert event["actor"] == username
