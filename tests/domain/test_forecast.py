"""The forecast and the status it gives, for rising, flat, falling and noisy series.

The expected numbers are computed here, independently of okrsync: the line
by ``statistics.linear_regression``, the interval from the textbook
prediction-interval formula written out again, the status by reading the rule.
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime, timedelta

import pytest

from okrsync.domain.cycle import Cycle
from okrsync.domain.forecast import MIN_POINTS, project
from okrsync.domain.model import KeyResult
from okrsync.domain.progress import kr_status

Q4 = Cycle.model_validate("2026-Q4")
DAY = 86_400.0
KR = KeyResult.model_validate(
    {"id": "k", "title": "K", "owner": "o@example.com", "start": 0, "target": 100}
)


def series(kind: str) -> list[tuple[datetime, float]]:
    """Daily raw progress over the first 40 days of the quarter."""
    rng = random.Random(7)  # noqa: S311 - a fixed, reproducible noise, not a secret
    out = []
    for day in range(40):
        t = Q4.start_at + timedelta(days=day)
        f = day / 92
        value = {
            "rising": 0.05 + 1.1 * f,  # heads past the target
            "flat": 0.30,
            "falling": 0.40 - 0.3 * f,
            "noisy": 0.05 + 0.9 * f + rng.uniform(-0.15, 0.15),
        }[kind]
        out.append((t, value))
    return out


def by_hand(points: list[tuple[datetime, float]]) -> tuple[float, float, float]:
    xs = [(t - Q4.start_at).total_seconds() / DAY for t, _ in points]
    ys = [v for _, v in points]
    fit = statistics.linear_regression(xs, ys)
    x0 = (Q4.end_at - Q4.start_at).total_seconds() / DAY
    y0 = fit.intercept + fit.slope * x0
    n = len(xs)
    mx = sum(xs) / n
    s = math.sqrt(
        sum((y - (fit.intercept + fit.slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
        / (n - 2)
    )
    half = 1.645 * s * math.sqrt(1 + 1 / n + (x0 - mx) ** 2 / sum((x - mx) ** 2 for x in xs))
    return y0, y0 - half, y0 + half


def expected_status(progress: float, value: float, high: float) -> str:
    if progress >= 1:
        return "done"
    if value >= 0.95:
        return "on_track"
    if value >= 0.7 or high >= 0.95:
        return "at_risk"
    return "off_track"


@pytest.mark.parametrize(
    ("kind", "want"),
    [("rising", "on_track"), ("flat", "off_track"), ("falling", "off_track"), ("noisy", None)],
)
def test_the_forecast_and_its_status_match_a_hand_computation(kind: str, want: str | None) -> None:
    points = series(kind)
    found = project(Q4.start_at, Q4.end_at, points)
    assert found is not None
    value, low, high = by_hand(points)
    assert found.value == pytest.approx(value, abs=1e-9)
    assert (found.low, found.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert found.points == 40
    now = points[-1][0]
    progress = points[-1][1]
    got = kr_status(KR, progress=progress, expected=Q4.elapsed(now), now=now, measured_at=now,
                    last_status="ok", forecast=found)  # fmt: skip
    assert got == expected_status(min(1.0, max(0.0, progress)), value, high)
    if want is not None:
        assert got == want


def test_noise_widens_the_interval_and_a_straight_line_has_none() -> None:
    straight = project(Q4.start_at, Q4.end_at, series("rising"))
    noisy = project(Q4.start_at, Q4.end_at, series("noisy"))
    assert straight is not None
    assert noisy is not None
    assert straight.high - straight.low == pytest.approx(0.0, abs=1e-9)
    assert noisy.high - noisy.low > 0.1


def test_too_few_points_give_no_forecast_and_the_gap_decides() -> None:
    points = series("rising")[: MIN_POINTS - 1]
    assert project(Q4.start_at, Q4.end_at, points) is None
    morning = [(Q4.start_at + timedelta(hours=h), 0.1 * h) for h in range(5)]
    assert project(Q4.start_at, Q4.end_at, morning) is None  # five points, but one morning
    now = Q4.start_at + timedelta(days=46)  # half-way, expected 0.5
    got = kr_status(KR, progress=0.2, expected=0.5, now=now, measured_at=now, last_status="ok")
    assert got == "off_track"  # a 30-point gap, with nothing to forecast from
