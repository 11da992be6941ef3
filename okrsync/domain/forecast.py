"""The forecast: this cycle's progress points projected to the cycle's end, with an interval.

Method: ordinary least squares of raw progress on time over the cycle's good
values, evaluated at the cycle's end, with the 90 % prediction interval
``ŷ ± 1.645 · s · √(1 + 1/n + (x₀ - x̄)² / Sxx)`` (``s`` the residual standard
error, normal quantile: the points are few and the interval is a guide, not a
test). O(n) per key result, so 10,000 key results with a quarter of daily
points cost little. Below ``MIN_POINTS`` points, or points spanning less than
``MIN_SPAN`` of the cycle, there is no forecast, and status falls back to
progress against expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

MIN_POINTS = 3
MIN_SPAN = 0.05  # of the cycle the points must span: a morning's values say nothing of a quarter
Z90 = 1.645  # two-sided 90 % normal quantile


@dataclass(frozen=True)
class Forecast:
    """Raw progress expected at the cycle's end, and its 90 % prediction interval."""

    value: float
    low: float
    high: float
    points: int


def project(
    start: datetime, end: datetime, points: Sequence[tuple[datetime, float]]
) -> Forecast | None:
    """The least-squares projection of ``points`` (time, raw progress) to ``end``."""
    xy = [((t - start).total_seconds(), p) for t, p in points if start <= t <= end]
    xy = [(x, y) for x, y in xy if math.isfinite(y)]
    n = len(xy)
    x0 = (end - start).total_seconds()
    if n < MIN_POINTS or len({x for x, _ in xy}) < 2:
        return None
    if max(x for x, _ in xy) - min(x for x, _ in xy) < MIN_SPAN * x0:
        return None
    mean_x = math.fsum(x for x, _ in xy) / n
    mean_y = math.fsum(y for _, y in xy) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in xy)
    slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in xy) / sxx
    value = mean_y + slope * (x0 - mean_x)
    residual = math.fsum((y - (mean_y + slope * (x - mean_x))) ** 2 for x, y in xy)
    s = math.sqrt(residual / (n - 2)) if n > 2 else 0.0
    half = Z90 * s * math.sqrt(1 + 1 / n + (x0 - mean_x) ** 2 / sxx)
    return Forecast(value, value - half, value + half, n)


__all__ = ["MIN_POINTS", "MIN_SPAN", "Z90", "Forecast", "project"]
