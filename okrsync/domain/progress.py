"""Progress maths: key-result progress, status, roll-up and grading (SPEC §1).

Pure functions, no I/O and no clock: time is always passed in as ``now``.

Progress. increase/decrease: ``(value - start) / (target - start)``, kept
unclamped so over-achievement (> 1) and regression (< 0) stay visible;
:func:`clamp` brings it to [0, 1] for status, roll-up and scores. The signed
denominator serves both directions: a decrease 120 → 30 at 75 is
``-45 / -90 = 0.5``. maintain: 1.0 while the value holds its threshold
(``at_least``: value ≥ target, ``at_most``: value ≤ target), else 0.0.
milestone: 1.0 when the value is truthy, else 0.0. No (or a NaN) value: None.

Expected progress is the elapsed fraction of the cycle. The forecast
(:mod:`okrsync.domain.forecast`) is the least-squares line through the (time,
raw progress) points inside the cycle, evaluated at cycle end, with a 90 %
prediction interval (at least MIN_POINTS = 3 points at 2+ distinct times).

Status of an increase/decrease KR, once there is a forecast: it comes from
where the trend lands. ≥ FORECAST_ON_TRACK (0.95) is on_track; ≥
FORECAST_AT_RISK (0.7), or an interval whose top reaches 0.95, is at_risk;
below is off_track: behind the calendar is fine when the numbers head for the
target, and ahead of it is not when they head away. Without a forecast,
``gap = expected - clamped progress``: gap ≤ ON_TRACK_GAP (10 points) is
on_track, ≤ AT_RISK_GAP (25 points) at_risk, beyond that off_track. Once the
cycle is over the forecast no longer counts and the whole target is expected. A 1e-9 tolerance keeps float noise (0.6 - 0.5 = 0.0999…)
on the intended side of a threshold.

Grading. The score is the clamped progress rounded to 2 decimals (the number
people see). Committed objectives succeed only at 1.0; aspirational (stretch)
ones at SUCCESS_ASPIRATIONAL = 0.7, the Google/Doerr convention ("Measure What
Matters"): a stretch goal landing at 60-70 % is a success, and one that always
reaches 1.0 was not ambitious enough.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from okrsync.domain.cycle import Cycle
from okrsync.domain.forecast import MIN_POINTS, Forecast, project
from okrsync.domain.model import KeyResult, Objective
from okrsync.domain.records import MeasurementStatus

Status = Literal["on_track", "at_risk", "off_track", "done", "stale", "error", "throttled"]

ON_TRACK_GAP = 0.10  # largest expected - progress gap still on_track
AT_RISK_GAP = 0.25  # largest gap still at_risk; beyond is off_track
FORECAST_ON_TRACK = 0.95  # forecast at cycle end that lifts an increase/decrease KR to on_track
FORECAST_AT_RISK = 0.7  # ... and to at_risk
SUCCESS_ASPIRATIONAL = 0.7  # score at which a stretch objective succeeds (Google/Doerr)
SUCCESS_COMMITTED = 1.0  # score a committed objective must reach
_EPS = 1e-9  # float tolerance for threshold comparisons


def raw_progress(kr: KeyResult, value: float | bool | None) -> float | None:
    """Unclamped progress of ``kr`` at ``value``; None when there is no (finite) value."""
    if value is None:
        return None
    kind = kr.kind
    if kind == "milestone":
        return 1.0 if value else 0.0
    number = float(value)
    if math.isnan(number):
        return None
    assert kr.target is not None  # the model requires it for every other kind
    if kind == "maintain":
        holds = number <= kr.target if kr.direction == "at_most" else number >= kr.target
        return 1.0 if holds else 0.0
    assert kr.start is not None  # increase/decrease: the model requires start ≠ target
    return (number - kr.start) / (kr.target - kr.start)


def clamp(progress: float | None) -> float | None:
    """``progress`` limited to [0, 1]; None (and NaN) stay None."""
    if progress is None or math.isnan(progress):
        return None
    return min(1.0, max(0.0, progress))


def expected_progress(cycle: Cycle, now: datetime) -> float:
    """Where progress should be at ``now``: the elapsed fraction of the cycle, in [0, 1]."""
    return cycle.elapsed(now)


def forecast_progress(cycle: Cycle, points: Sequence[tuple[datetime, float]]) -> float | None:
    """Raw progress at cycle end on the least-squares line; None below MIN_POINTS or 2 times."""
    found = forecast_of(cycle, points)
    return None if found is None else found.value


def forecast_of(cycle: Cycle, points: Sequence[tuple[datetime, float]]) -> Forecast | None:
    """The projection to cycle end with its 90 % interval (:mod:`okrsync.domain.forecast`)."""
    return project(cycle.start_at, cycle.end_at, points)


def _forecast_status(progress: float, forecast: Forecast) -> Status:
    """Where the trend lands at cycle end, once there are enough points to say."""
    if progress >= 1.0:
        return "done"
    if forecast.value >= FORECAST_ON_TRACK - _EPS:
        return "on_track"
    if forecast.value >= FORECAST_AT_RISK - _EPS or forecast.high >= FORECAST_ON_TRACK - _EPS:
        return "at_risk"  # short on the line, or the target within the interval's reach
    return "off_track"


def _gap_status(progress: float, expected: float) -> Status:
    """Progress against where it should be today: until there are points to forecast from."""
    if progress >= 1.0:
        return "done"
    gap = expected - progress
    if gap <= ON_TRACK_GAP + _EPS:
        return "on_track"
    if gap <= AT_RISK_GAP + _EPS:
        return "at_risk"
    return "off_track"


def kr_status(
    kr: KeyResult,
    *,
    progress: float | None,
    expected: float,
    now: datetime,
    measured_at: datetime | None,
    last_status: MeasurementStatus | None,
    forecast: Forecast | float | None = None,
    cycle_over: bool = False,
    throttled: bool = False,
) -> Status:
    """Status of one key result; first matching rule wins.

    ``error`` (last measurement failed) beats ``throttled`` (its quota keeps it
    from being measured as often as asked, SPEC §8), which beats ``stale`` (no
    good value within ``kr.freshness``, or no usable progress), which beats
    the progress rules. ``held`` and ``throttled`` do not change progress: the
    last good value still counts.
    """
    if last_status == "error":
        return "error"
    if throttled:
        return "throttled"
    clamped = clamp(progress)
    if measured_at is None or now - measured_at > kr.freshness or clamped is None:
        return "stale"
    if kr.kind == "milestone":
        if clamped >= 1.0:
            return "done"
        if cycle_over:
            return "off_track"
        return "on_track" if expected <= 0.5 else "at_risk"
    if kr.kind == "maintain":
        return "on_track" if clamped >= 1.0 else "off_track"
    if cycle_over:
        return _gap_status(clamped, 1.0)
    if isinstance(forecast, float | int):  # a bare projection: no interval around it
        forecast = Forecast(float(forecast), float(forecast), float(forecast), MIN_POINTS)
    if forecast is not None:
        return _forecast_status(clamped, forecast)
    return _gap_status(clamped, expected)


def weighted_progress(parts: Iterable[tuple[float | None, float]]) -> float | None:
    """Weighted mean of (progress, weight) pairs, skipping None progress; None if none left."""
    used = [(p, w) for p, w in parts if p is not None and not math.isnan(p) and w > 0]
    if not used:
        return None
    total = math.fsum(w for _, w in used)
    mean = math.fsum(p * w for p, w in used) / total
    low, high = min(p for p, _ in used), max(p for p, _ in used)
    return min(high, max(low, mean))  # rounding never leaves [min, max]


def aligned_children(objectives: Sequence[Objective]) -> dict[str, list[Objective]]:
    """Objective id → the objectives aligned to it: to its id or to one of its key results."""
    children: dict[str, list[Objective]] = {o.id: [] for o in objectives}
    owner = {kr.id: o.id for o in objectives for kr in o.key_results}
    for child in objectives:
        parent = child.parent
        parent_id = parent if parent in children else owner.get(parent) if parent else None
        if parent_id is not None:
            children[parent_id].append(child)
    return children


def rollup(
    objectives: Sequence[Objective], kr_progress: Mapping[str, float | None]
) -> dict[str, float | None]:
    """Objective id → progress, from its KRs' clamped progress (and aligned children).

    ``rollup: children`` adds each aligned child objective (weight
    ``child.weight``): a child whose ``parent`` is the objective's id or the id
    of one of its key results. Raises ValueError on a parent cycle.
    """
    children = aligned_children(objectives)
    result: dict[str, float | None] = {}
    visiting: list[str] = []

    def visit(objective: Objective) -> float | None:
        if objective.id in result:
            return result[objective.id]
        if objective.id in visiting:
            path = " → ".join([*visiting[visiting.index(objective.id) :], objective.id])
            raise ValueError(f"objectives are aligned in a cycle: {path}")
        visiting.append(objective.id)
        parts = [(clamp(kr_progress.get(kr.id)), kr.weight) for kr in objective.key_results]
        if objective.rollup == "children":
            parts += [(visit(child), child.weight) for child in children[objective.id]]
        visiting.pop()
        result[objective.id] = weighted_progress(parts)
        return result[objective.id]

    for objective in objectives:
        visit(objective)
    return result


def objective_status(
    progress: float | None,
    expected: float,
    kr_statuses: Sequence[Status],
    *,
    cycle_over: bool = False,
) -> Status:
    """Status of an objective from its rolled-up progress and the statuses of what it rolls up.

    ``kr_statuses`` are its key results' and, with ``rollup: children``, its
    aligned children's. ``done`` needs every one of them done: a maintain
    guard rail holding at 1.0 makes progress 100% but is never finished
    before the cycle is. Nothing to roll up at all is ``stale``.
    """
    if not kr_statuses:
        return "stale"
    if all(s in ("stale", "error") for s in kr_statuses):
        return "error" if "error" in kr_statuses else "stale"
    if all(s == "done" for s in kr_statuses):
        return "done"
    clamped = clamp(progress)
    if clamped is None:
        return "stale"
    status = _gap_status(clamped, 1.0 if cycle_over else expected)
    return "on_track" if status == "done" else status


@dataclass(frozen=True)
class Grade:
    """End-of-cycle grade of an objective."""

    score: float
    success: bool
    kind: Literal["committed", "aspirational"]


def grade(objective: Objective, progress: float | None) -> Grade:
    """Score = clamped progress rounded to 2 decimals (None → 0.0); success by objective kind."""
    score = round(clamp(progress) or 0.0, 2)
    needed = SUCCESS_COMMITTED if objective.kind == "committed" else SUCCESS_ASPIRATIONAL
    return Grade(score=score, success=score >= needed, kind=objective.kind)


__all__ = [
    "AT_RISK_GAP",
    "FORECAST_AT_RISK",
    "FORECAST_ON_TRACK",
    "ON_TRACK_GAP",
    "SUCCESS_ASPIRATIONAL",
    "SUCCESS_COMMITTED",
    "Grade",
    "Status",
    "aligned_children",
    "clamp",
    "expected_progress",
    "forecast_progress",
    "grade",
    "kr_status",
    "objective_status",
    "raw_progress",
    "rollup",
    "weighted_progress",
]
