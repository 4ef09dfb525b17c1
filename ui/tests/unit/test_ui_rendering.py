"""Pure helpers of the admin UI: SVG charts, template filters, struct-driven forms."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.interfaces import Secret
from lakeplane_ui import charts, filters, forms


def test_line_chart_escapes_labels_and_uses_no_inline_style():
    svg = charts.line_chart(
        [charts.Point("<b>a</b>", 1.5), charts.Point("b", 3, tone="bad", href="/ui/x?a=1&b=2")], "t<", "s"
    )
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "style=" not in svg
    assert 'href="/ui/x?a=1&amp;b=2"' in svg
    assert svg.count("<circle") == 2


def test_bar_chart_has_one_bar_per_point_and_an_accessible_title():
    svg = charts.bar_chart([charts.Point(str(i), i * 10) for i in range(5)], "Rows per snapshot", "rows")
    assert svg.count("<rect") == 5
    assert 'role="img"' in svg and "<title>Rows per snapshot</title>" in svg


def test_empty_charts_render_nothing():
    assert charts.line_chart([], "t", "s") == "" and charts.bar_chart([], "t", "s") == ""


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_nice_max_is_never_below_the_value(value):
    top = charts.nice_max(value)
    assert top >= value and top > 0


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=60))
def test_every_mark_stays_inside_the_plot(values):
    svg = str(charts.line_chart([charts.Point(str(i), v) for i, v in enumerate(values)], "t", "s"))
    import re

    for cy in re.findall(r'cy="([\d.]+)"', svg):
        assert charts.TOP - 0.1 <= float(cy) <= charts.HEIGHT - charts.BOTTOM + 0.1


def test_time_tag_is_utc_with_a_machine_readable_datetime():
    moment = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert filters.time_tag(moment) == '<time datetime="2026-11-25T19:00:00Z">2026-11-25 19:00:00 UTC</time>'
    assert "—" in filters.time_tag(None)


def test_badge_and_duration():
    assert filters.badge("timed_out") == '<span class="badge badge-bad">timed out</span>'
    assert filters.badge("<x>") == '<span class="badge badge-muted">&lt;x&gt;</span>'
    assert filters.duration(0.25) == "250 ms"
    assert filters.duration(75) == "1 min 15 s"
    assert filters.duration(3 * 3600 + 120) == "3 h 2 min"


class Params(msgspec.Struct, kw_only=True):
    host: str
    port: Annotated[int, msgspec.Meta(ge=1)] = 8080
    scheme: Literal["http", "https"] = "http"
    tls: bool = True
    password: Secret | None = None
    extra: dict[str, str] = {}


def test_struct_fields_know_secrets_choices_and_defaults():
    fields = {f.name: f for f in forms.struct_fields(Params)}
    assert fields["password"].kind == "secret"
    assert fields["scheme"].kind == "choice" and fields["scheme"].choices == ["http", "https"]
    assert fields["tls"].kind == "bool" and fields["tls"].default is True
    assert fields["port"].kind == "number" and fields["port"].default == 8080
    assert fields["extra"].kind == "json" and fields["host"].required


def test_parse_converts_text_and_reports_errors_per_field():
    fields = forms.struct_fields(Params)
    values, errors = forms.parse(
        fields,
        {"p.host": " db ", "p.port": "x", "p.tls": "false", "p.extra": '{"a": "b"}', "p.password": ""},
        "p",
    )
    assert values == {"host": "db", "tls": False, "extra": {"a": "b"}}
    assert errors == {"p.port": "a whole number"}
    _, missing = forms.parse(fields, {}, "p")
    assert missing == {"p.host": "required"}


def test_parse_on_edit_keeps_or_clears_secrets():
    fields = forms.struct_fields(Params)
    kept, _ = forms.parse(fields, {"p.host": "db", "p.password": ""}, "p", keep_blank_secrets=True)
    assert "password" not in kept
    cleared, _ = forms.parse(fields, {"p.host": "db", "p.password.clear": "1"}, "p", keep_blank_secrets=True)
    assert cleared["password"] is None
