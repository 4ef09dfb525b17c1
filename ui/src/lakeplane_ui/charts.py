"""Small server-rendered SVG charts: no script, no style attributes (the CSP forbids them).

Colours come from CSS classes in ui.css. Each chart carries a ``<title>`` and
``aria-label``; pages put the same numbers in a table next to it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40


@dataclasses.dataclass(frozen=True)
class Point:
    label: str
    value: float
    #: CSS tone of the mark: good, bad, busy, wait, muted.
    tone: str = "good"
    href: str | None = None


def nice_max(value: float) -> float:
    if value <= 1e-9:  # nothing (or next to nothing) to show: a unit axis
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frame(title: str, y_label: str, top: float) -> list[str]:
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(top * i / 4)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="12" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    return parts


def _x_labels(points: Sequence[Point], xs: list[float]) -> list[str]:
    parts = []
    every = max(1, math.ceil(len(points) / 6))
    for i, (p, x) in enumerate(zip(points, xs, strict=True)):
        if i % every == 0 or i == len(points) - 1:
            # The outer labels hang inwards so that they are never cut at the edges.
            anchor = "start" if i == 0 and len(points) > 1 else "end" if i == len(points) - 1 else "middle"
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">'
                f"{escape(p.label)}</text>"
            )
    return parts


def line_chart(points: Sequence[Point], title: str, y_label: str) -> Markup:
    """Values in order (e.g. run durations, oldest first), one dot per value, joined by a line."""
    if not points:
        return Markup("")
    top = nice_max(max(p.value for p in points))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(points) - 1)
    xs = [LEFT + (i * step if len(points) > 1 else plot_w / 2) for i in range(len(points))]
    ys = [TOP + plot_h - plot_h * (p.value / top) for p in points]
    parts = _frame(title, y_label, top)
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    )
    parts.append(f'<path class="series" d="{path}"/>')
    for p, x, y in zip(points, xs, ys, strict=True):
        dot = (
            f'<circle class="dot dot-{escape(p.tone)}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
            f"<title>{escape(p.label)}: {_fmt(p.value)}</title></circle>"
        )
        parts.append(f'<a href="{escape(p.href)}">{dot}</a>' if p.href else dot)
    parts += _x_labels(points, xs)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or escaped


def bar_chart(points: Sequence[Point], title: str, y_label: str) -> Markup:
    """One bar per value (e.g. rows per snapshot)."""
    if not points:
        return Markup("")
    top = nice_max(max(p.value for p in points))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(points)
    bar_w = max(2.0, min(48.0, slot * 0.7))
    parts = _frame(title, y_label, top)
    xs = []
    for i, p in enumerate(points):
        x = LEFT + slot * i + slot / 2
        xs.append(x)
        h = plot_h * (p.value / top)
        parts.append(
            f'<rect class="bar bar-{escape(p.tone)}" x="{x - bar_w / 2:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(p.label)}: {_fmt(p.value)}</title></rect>'
        )
    parts += _x_labels(points, xs)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or escaped
