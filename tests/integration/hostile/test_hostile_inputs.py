"""Every route, every hostile body: the answer is a 4xx, the process stays up, nothing changes.

The routes come from the app's own route table (core, plugins and the admin UI), so a
route added tomorrow is sent the corpus without anyone listing it here. Each route that
takes a body gets:

- a hand-made corpus of bodies that no parser should accept or that no database can
  store (deep nesting, huge and non-finite numbers, duplicate keys, invalid UTF-8, lone
  surrogates, NUL bytes, very long strings and keys, wrong and missing content types,
  empty bodies, arrays where objects belong);
- bodies shaped like the route's own schema (read from the OpenAPI document) with one
  field replaced by a hostile value, unicode look-alikes in constrained names included;
- bodies drawn by hypothesis from the same ingredients.

Every route, with or without a body, is also sent hostile query strings. All of it
goes once as a global admin (so bodies reach the handlers) and once anonymously. The
database is compared, table by table, before and after.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from lakeplane.runtime import Services
from lakeplane.testing.app import create_database, make_config, make_user
from lakeplane.testing.fixtures import every_row
from lakeplane.testing.routes import concrete, operations
from lakeplane.web.app import create_app
from lakeplane.web.state import services

PROBLEM = "application/problem+json"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
#: Routes that take no body or query and act on the caller alone (signing out, starting a
#: sign-in); whatever is sent to them is ignored by design, so they are left out.
BODILESS_ACTIONS = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/sso/begin"),
    ("POST", "/ui/signout"),
}

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
LONG = "x" * 200_000
#: Look-alikes: full-width, Cyrillic, mathematical letters, a right-to-left override.
LOOKALIKES = [
    "\uff41\uff44\uff4d\uff49\uff4e",  # full-width "admin"
    "\u0430dmin",  # Cyrillic a
    "\U0001d5ba\U0001d5bd\U0001d5c6\U0001d5c2\U0001d5c7",  # mathematical sans-serif
    "adm\u202ein",  # right-to-left override
    "ws\u200b",  # zero-width space
    "\uff37\uff33-\uff11",  # full-width "WS-1"
]
HOSTILE_STRINGS = ["\x00", "a\x00b", "\ud800", "x\udfffy", LONG, *LOOKALIKES]
#: Raw JSON numbers that cannot be stored or are not JSON at all.
HOSTILE_NUMBERS = [
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "9223372036854775808",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" + "0" * 5000,
]

RAW_BODIES: list[tuple[str, str | None, bytes]] = [
    ("empty", JSON, b""),
    ("whitespace", JSON, b"   \n"),
    ("null", JSON, b"null"),
    ("array", JSON, b"[]"),
    ("array of objects", JSON, b'[{"name": "a"}]'),
    ("string", JSON, b'"hello"'),
    ("number", JSON, b"0"),
    ("deep array", JSON, DEEP_ARRAY),
    ("deep object", JSON, DEEP_OBJECT),
    ("duplicate keys", JSON, b'{"name": "a", "name": "b", "slug": "c", "slug": "d"}'),
    ("long key", JSON, json.dumps({LONG: 1}).encode()),
    ("long string", JSON, json.dumps({"name": LONG, "slug": LONG}).encode()),
    ("nul escape", JSON, b'{"name": "a\\u0000b", "slug": "\\u0000"}'),
    ("nul key", JSON, b'{"\\u0000": 1}'),
    ("nul byte", JSON, b'{"name": "a\x00b"}'),
    ("lone surrogate", JSON, b'{"name": "\\ud800", "slug": "\\udfff"}'),
    ("surrogate key", JSON, b'{"\\ud83d": 1}'),
    ("invalid utf-8", JSON, b'{"name": "\xff\xfe"}'),
    ("overlong utf-8", JSON, b'{"name": "\xc0\xaf"}'),
    ("utf-8 surrogate bytes", JSON, b'{"name": "\xed\xa0\x80"}'),
    ("utf-16", JSON, '{"name": "a"}'.encode("utf-16")),
    ("truncated", JSON, b'{"name": "a'),
    ("trailing garbage", JSON, b'{"name": "a"} x'),
    ("single quotes", JSON, b"{'name': 'a'}"),
    ("json as text/plain", "text/plain", b'{"name": "a", "slug": "a-b"}'),
    ("json without a type", None, b'{"name": "a", "slug": "a-b"}'),
    ("json as a form", FORM, b'{"name": "a", "slug": "a-b"}'),
    ("xml", "application/xml", b"<a/>"),
    ("multipart garbage", "multipart/form-data; boundary=x", b"--x\r\nnonsense"),
    ("form with nul", FORM, b"name=a%00b&slug=%00&username=%00&password=%00&csrf_token=%00"),
    ("form with bad utf-8", FORM, b"name=%ff%fe&slug=%ed%a0%80&username=%c0%af&password=%ff"),
    ("form with a long key", FORM, b"x" * 200_000 + b"=1"),
    ("form of many fields", FORM, b"&".join([b"a=1"] * 20_000)),
    *[
        (f"number {n[:12]}", JSON, f'{{"name": {n}, "limit": {n}, "max_attempts": {n}}}'.encode())
        for n in HOSTILE_NUMBERS
    ],
]

QUERIES = [
    "limit=0",
    "limit=-1",
    "limit=501",
    "limit=99999999999999999999999999",
    "limit=NaN",
    "limit=1e400",
    "limit=%00",
    "cursor=%00",
    "cursor=%ff%fe",
    "cursor=%ed%a0%80",
    "cursor=" + "x" * 50_000,
    "offset=99999999999999999999999",
    "offset=-99999999999999999999999",
    "after=%00&before=%00&actor=%00&action=%00&state=%00",
    "from=not-a-date&to=9999999-01-01",
    "since=1e400&until=NaN",
    "limit=1&limit=2&cursor=a&cursor=b",
]


@pytest.fixture(scope="module")
async def hostile_app(postgres_service: Any) -> AsyncIterator[tuple[Litestar, Services, str, str]]:
    config = make_config(await create_database(postgres_service.url, "lp_hostile"))
    app = create_app(config)
    lp = services(app.state)
    async with lp.sessions() as db:
        _, token = await make_user(db, f"root-{secrets.token_hex(3)}", is_admin=True)
    async with _client(app, token) as client:
        created = await client.post("/api/v1/workspaces", json={"slug": "hostile", "name": "Hostile"})
        assert created.status_code == 201, created.text
    yield app, lp, token, "hostile"
    await lp.engine.dispose()


def _client(app: Litestar, token: str | None) -> httpx.AsyncClient:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def _takes_body(method: str, path: str, handler: Any) -> bool:
    if method in ("GET", "DELETE"):
        return False
    return path.startswith("/ui/") or "data" in handler.parsed_fn_signature.parameters


# ---- bodies shaped like each route's schema ---------------------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [_resolve(doc, s) for s in schema[key] if s.get("type") != "null"]
            if options:
                return {**options[0], **{k: v for k, v in schema.items() if k != key}}
    return schema


PLAUSIBLE_STRINGS = ["abc", "a1", "noop", "admin", "viewer", "object_store", "s3", "default", "0 * * * *"]


def _plausible(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    schema = _resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        pattern = schema.get("pattern")
        for candidate in PLAUSIBLE_STRINGS:
            if pattern is None or re.search(pattern, candidate):
                return candidate
        return "abc"
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return {}


def shaped_bodies(doc: dict[str, Any], path: str, method: str) -> list[tuple[str, bytes]]:
    """A plausible body for the route with one field made hostile, for every field."""
    template = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)
    operation = doc.get("paths", {}).get(template, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    if JSON not in content:
        return []
    schema = _resolve(doc, content[JSON]["schema"])
    properties = {name: _resolve(doc, s) for name, s in schema.get("properties", {}).items()}
    base = {name: _plausible(doc, s) for name, s in properties.items() if name in schema.get("required", [])}
    bodies: list[tuple[str, bytes]] = []
    for name, prop in properties.items():
        for value in ("a\x00", "\ud800", {"k": "\x00"}, {"\udc00": 1}):
            bodies.append((f"{name}={value!r}"[:60], json.dumps({**base, name: value}).encode()))
        for number in HOSTILE_NUMBERS[:3]:
            raw = json.dumps({**base, name: "__N__"}).replace('"__N__"', number)
            bodies.append((f"{name}={number[:12]}", raw.encode()))
        nested = json.dumps({**base, name: "__D__"}).replace('"__D__"', '{"a":' * 200 + "1" + "}" * 200)
        bodies.append((f"{name}=deep", nested.encode()))
        pattern = prop.get("pattern")
        if prop.get("type") == "string" and pattern:
            for lookalike in LOOKALIKES:
                if not re.search(pattern, lookalike):
                    bodies.append((f"{name}={lookalike!r}", json.dumps({**base, name: lookalike}).encode()))
        if prop.get("type") == "object" or "$ref" in schema.get("properties", {}).get(name, {}):
            bodies.append((f"{name}=[]", json.dumps({**base, name: [base]}).encode()))
    return bodies


# ---- bodies drawn by hypothesis ---------------------------------------------------------------

leaves = st.one_of(
    st.sampled_from(HOSTILE_STRINGS[:4] + LOOKALIKES),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc"]), min_size=1, max_size=8),
    st.integers(min_value=2**63, max_value=2**200) | st.integers(min_value=-(2**200), max_value=-(2**63) - 1),
)
hostile_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
drawn_bodies = st.one_of(
    st.builds(lambda v: json.dumps({"name": v, "slug": v, "params": {"x": v}}).encode(), hostile_values),
    st.builds(lambda v: json.dumps(v).encode(), st.lists(hostile_values, min_size=1, max_size=3)),
    st.binary(min_size=1, max_size=64).filter(lambda b: not _is_plain_json(b)),
)


def _is_plain_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def drawn(count: int) -> list[bytes]:
    """``count`` bodies from hypothesis (derandomized: the same ones every run)."""
    found: list[bytes] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn_bodies)
    def collect(body: bytes) -> None:
        found.append(body)

    collect()
    return found


# ---- checks -----------------------------------------------------------------------------------


def _refused(resp: httpx.Response, where: str, wrong: list[str], ui: bool) -> None:
    if ui and resp.status_code == 303 and "/ui/signin" in resp.headers.get("location", ""):
        return  # an anonymous browser is sent to sign in; nothing was read
    if not 400 <= resp.status_code < 500:
        wrong.append(f"{where}: {resp.status_code} {resp.text[:160]!r}")
        return
    content_type = resp.headers.get("content-type", "")
    # The admin UI answers a browser with a page; everything else is a problem document.
    if not (content_type.startswith(PROBLEM) or (ui and content_type.startswith("text/html"))):
        wrong.append(f"{where}: {resp.status_code} with content type {content_type!r}")
    if "Traceback" in resp.text:
        wrong.append(f"{where}: a traceback in the answer")


def _summary(wrong: list[str]) -> str:
    """One line per route and status, with the first case that showed it."""
    first: dict[str, tuple[int, str]] = {}
    for line in wrong:
        route, _, rest = line.partition(" [")
        key = route.split("?")[0] + " -> " + rest.partition("]: ")[2][:3]
        count, example = first.get(key, (0, line))
        first[key] = (count + 1, example)
    return "\n".join(f"{n:5d}x {key}   e.g. {example[:200]}" for key, (n, example) in first.items())


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _send_corpus(
    app: Litestar, token: str | None, ws: str, extra: list[bytes], shaped: bool = True
) -> tuple[int, list[str]]:
    doc = app.openapi_schema.to_schema()
    wrong: list[str] = []
    sent = 0
    async with _client(app, token) as client:
        for method, path, handler in operations(app):
            if (method, path) in BODILESS_ACTIONS:
                continue
            url = concrete(path, ws)
            ui = path.startswith("/ui/")
            for query in QUERIES:
                resp = await client.request(method, f"{url}?{query}")
                sent += 1
                if resp.status_code >= 500:
                    wrong.append(f"{method} {path}?{query[:40]}: {resp.status_code} {resp.text[:160]!r}")
            if not _takes_body(method, path, handler):
                continue
            bodies = [(name, ctype, raw) for name, ctype, raw in RAW_BODIES]
            if shaped:
                bodies += [(name, JSON, raw) for name, raw in shaped_bodies(doc, path, method)]
            bodies += [(f"drawn {i}", JSON, raw) for i, raw in enumerate(extra)]
            for name, ctype, raw in bodies:
                headers = {"Content-Type": ctype} if ctype else {}
                resp = await client.request(method, url, content=raw, headers=headers)
                sent += 1
                _refused(resp, f"{method} {path} [{name}]", wrong, ui)
    return sent, wrong


async def test_every_route_refuses_every_hostile_body(hostile_app: Any) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app, lp, token, ws = hostile_app
    extra = drawn(25)
    before = await every_row(lp)
    rss_before = _rss_mib()
    results = [await _send_corpus(app, token, ws, extra), await _send_corpus(app, None, ws, [], shaped=False)]
    rss_growth = _rss_mib() - rss_before
    wrong = [line for _, lines in results for line in lines]
    assert not wrong, f"{len(wrong)} answers were not a 4xx problem:\n" + _summary(wrong)
    assert sum(sent for sent, _ in results) > 4_000
    after = await every_row(lp)
    changed = {
        name: sorted(set(after[name]) - set(before[name]))[:3]
        for name in before
        if before[name] != after[name]
    }
    assert not changed, f"hostile requests changed tables (new rows): {changed}"
    # Bodies of up to 1 MiB, one at a time: what the process holds stays well below this.
    assert rss_growth < 256, f"peak memory grew by {rss_growth:.0f} MiB over the corpus"
    async with _client(app, token) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get(f"/api/v1/workspaces/{ws}")).status_code == 200


async def test_decoding_failures_are_400_and_validation_is_422(hostile_app: Any) -> None:
    """The one place that reads bodies says 400 for what it cannot read, 422 for what it read."""
    app, _, token, ws = hostile_app
    async with _client(app, token) as client:
        for raw in (DEEP_OBJECT, b'{"slug": "a", "slug": "b", "name": "x"}', b'{"name": "\\ud800"}', b"{"):
            resp = await client.post("/api/v1/workspaces", content=raw, headers={"Content-Type": JSON})
            assert resp.status_code == 400, resp.text
            assert resp.json()["type"].endswith("/malformed-body")
        shapes = [
            ("/api/v1/workspaces", {"slug": LOOKALIKES[0], "name": "x"}),
            ("/api/v1/workspaces", {"slug": 5, "name": "x"}),
            (f"/api/v1/workspaces/{ws}/jobs", {"name": "j", "type": "noop", "definition": []}),
        ]
        for url, body in shapes:
            resp = await client.post(url, json=body)
            assert resp.status_code == 422, resp.text
            assert resp.json()["type"].endswith("/validation-failed")
            assert resp.json()["errors"], resp.text
        resp = await client.post("/api/v1/workspaces", content=b'{"slug": "a-b", "name": "x"}')
        assert resp.status_code == 415, resp.text
