"""A key result's history as an SVG chart: measured points, target, expected line, forecast.

Drawn server-side with presentation attributes and CSS classes only (no inline
style, no script), so it passes a strict Content-Security-Policy, prints, and
follows the page's light or dark colours. The time axis is the cycle; values
are in the key result's own unit, scaled between start, target and the points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from okrsync.domain.units import format_value

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 32  # room for the axis labels


@dataclass(frozen=True)
class Series:
    """What the chart shows; ``forecast`` is the value projected to the cycle's end."""

    points: Sequence[tuple[datetime, float]]
    start_at: datetime
    end_at: datetime
    start: float | None
    target: float | None
    now: datetime
    unit: str | None
    forecast: float | None = None
    interval: tuple[float, float] | None = None  # the forecast's 90 % range, in the unit


def svg(series: Series, label: str) -> str:
    """The chart as an ``<svg role="img">`` with a text alternative naming its numbers."""
    values = [v for _, v in series.points]
    band = series.interval or (None, None)
    known = [
        v for v in (*values, series.start, series.target, series.forecast, *band) if v is not None
    ]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    span = (series.end_at - series.start_at).total_seconds() or 1.0

    def x(t: datetime) -> float:
        share = (t - series.start_at).total_seconds() / span
        return round(LEFT + max(0.0, min(1.0, share)) * (WIDTH - LEFT - RIGHT), 1)

    def y(v: float) -> float:
        return round(TOP + (high - v) / (high - low) * (HEIGHT - TOP - BOTTOM), 1)

    def fmt(v: float) -> str:
        return format_value(v, series.unit)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(label)}</title>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}"/>',
    ]
    for v in sorted({low + pad, high - pad}):  # the axis: the lowest and highest value shown
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y(v) + 4}" text-anchor="end">{escape(fmt(v))}</text>'
        )
    parts.append(f'<text class="axis" x="{LEFT}" y="{HEIGHT - 10}">{series.start_at:%d %b}</text>')
    parts.append(
        f'<text class="axis" x="{WIDTH - RIGHT}" y="{HEIGHT - 10}" text-anchor="end">{series.end_at:%d %b}</text>'
    )
    if series.target is not None:
        ty = y(series.target)
        parts.append(f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty}" y2="{ty}"/>')
        parts.append(
            f'<text class="label" x="{WIDTH - RIGHT - 4}" y="{ty - 5}" text-anchor="end">target {escape(fmt(series.target))}</text>'
        )
    if series.start is not None and series.target is not None:
        parts.append(
            f'<line class="expected" x1="{x(series.start_at)}" y1="{y(series.start)}" '
            f'x2="{x(series.end_at)}" y2="{y(series.target)}"/>'
        )
    nx = x(series.now)
    parts.append(f'<line class="today" x1="{nx}" x2="{nx}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
    if values:
        line = " ".join(f"{x(t)},{y(v)}" for t, v in series.points)
        parts.append(f'<polyline class="measured" points="{line}"/>')
        for t, v in series.points[
            -60:
        ]:  # dots for the newest points only: a long cycle stays light
            parts.append(f'<circle class="point" cx="{x(t)}" cy="{y(v)}" r="2.5"/>')
        if series.forecast is not None:
            last_t, last_v = series.points[-1]
            parts.append(
                f'<line class="forecast" x1="{x(last_t)}" y1="{y(last_v)}" '
                f'x2="{x(series.end_at)}" y2="{y(series.forecast)}"/>'
            )
        if series.interval is not None:
            ex, (lo, hi) = x(series.end_at) - 3, series.interval
            parts.append(f'<line class="interval" x1="{ex}" x2="{ex}" y1="{y(lo)}" y2="{y(hi)}"/>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["HEIGHT", "WIDTH", "Series", "svg"]
