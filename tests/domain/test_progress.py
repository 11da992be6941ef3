"""Progress maths: example tests per rule, then hypothesis properties for the invariants."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from okrsync.domain.cycle import Cycle
from okrsync.domain.forecast import MIN_SPAN
from okrsync.domain.model import KeyResult, Objective
from okrsync.domain.progress import (
    AT_RISK_GAP,
    ON_TRACK_GAP,
    SUCCESS_ASPIRATIONAL,
    Grade,
    Status,
    clamp,
    expected_progress,
    forecast_progress,
    grade,
    kr_status,
    objective_status,
    raw_progress,
    rollup,
    weighted_progress,
)

GradeKind = Literal["committed", "aspirational"]
Q4 = Cycle.model_validate("2026-Q4")  # 2026-10-01 .. 2026-12-31, ends 2027-01-01T00:00Z
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def make_kr(kr_id: str = "kr", **fields: Any) -> KeyResult:
    return KeyResult.model_validate({"id": kr_id, "title": kr_id.title(), **fields})


def make_objective(obj_id: str, **fields: Any) -> Objective:
    return Objective.model_validate({"id": obj_id, "title": obj_id.title(), **fields})


def raw(kr: KeyResult, value: float) -> float:
    progress = raw_progress(kr, value)
    assert progress is not None
    return progress


def at_fraction(fraction: float) -> datetime:
    return Q4.start_at + (Q4.end_at - Q4.start_at) * fraction


# --- raw progress and clamp -------------------------------------------------------------


def test_increase_progress_is_the_fraction_of_the_way() -> None:
    kr = make_kr(start=12_000_000, target=15_000_000)
    assert kr.kind == "increase"
    assert raw_progress(kr, 13_500_000) == 0.5


def test_over_achievement_is_kept_raw_and_clamped_for_scoring() -> None:
    kr = make_kr(start=100, target=200)
    raw = raw_progress(kr, 260)
    assert raw == pytest.approx(1.6)
    assert clamp(raw) == 1.0


def test_regression_below_start_is_negative_raw_and_zero_clamped() -> None:
    kr = make_kr(start=100, target=200)
    assert raw_progress(kr, 50) == -0.5
    assert clamp(raw_progress(kr, 50)) == 0.0


def test_decrease_progress() -> None:
    kr = make_kr(start=120, target=30)
    assert kr.kind == "decrease"
    assert raw_progress(kr, 75) == 0.5
    assert raw_progress(kr, 30) == 1.0
    assert raw_progress(kr, 150) == pytest.approx(-1 / 3)


@pytest.mark.parametrize("value", [None, math.nan])
def test_no_value_means_no_progress(value: float | None) -> None:
    assert raw_progress(make_kr(start=0, target=10), value) is None
    assert clamp(None) is None


@pytest.mark.parametrize(("value", "expected"), [(99.9, 1.0), (99.5, 1.0), (99.4, 0.0), (0, 0.0)])
def test_maintain_at_least_is_the_default(value: float, expected: float) -> None:
    kr = make_kr(type="maintain", target=99.5)
    assert kr.direction == "at_least"
    assert raw_progress(kr, value) == expected


@pytest.mark.parametrize(("value", "expected"), [(150, 1.0), (200, 1.0), (201, 0.0)])
def test_maintain_at_most(value: float, expected: float) -> None:
    kr = make_kr(type="maintain", target=200, direction="at_most")
    assert raw_progress(kr, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, 1.0), (False, 0.0), (1, 1.0), (0, 0.0), (3.5, 1.0), (0.0, 0.0)]
)
def test_milestone_is_done_when_truthy(value: float | bool, expected: float) -> None:
    assert raw_progress(make_kr(type="milestone"), value) == expected


# --- expected progress and forecast -------------------------------------------------------


def test_expected_progress_is_the_elapsed_fraction() -> None:
    assert expected_progress(Q4, Q4.start_at - timedelta(days=3)) == 0.0
    assert expected_progress(Q4, Q4.start_at) == 0.0
    assert expected_progress(Q4, at_fraction(0.5)) == pytest.approx(0.5)
    assert expected_progress(Q4, Q4.end_at) == 1.0
    assert expected_progress(Q4, Q4.end_at + timedelta(days=30)) == 1.0


def test_forecast_on_a_straight_line_is_the_line_at_cycle_end() -> None:
    points = [(at_fraction(f), 0.1 + 0.8 * f) for f in (0.1, 0.2, 0.35, 0.5)]
    assert forecast_progress(Q4, points) == pytest.approx(0.9)


def test_forecast_keeps_over_achievement_raw() -> None:
    points = [(at_fraction(f), 2.0 * f) for f in (0.1, 0.2, 0.3)]
    assert forecast_progress(Q4, points) == pytest.approx(2.0)


def test_forecast_ignores_points_outside_the_cycle() -> None:
    inside = [(at_fraction(f), f) for f in (0.2, 0.4, 0.6)]
    outside = [(Q4.start_at - timedelta(days=1), 5.0), (Q4.end_at + timedelta(days=1), -5.0)]
    assert forecast_progress(Q4, inside + outside) == pytest.approx(1.0)
    assert forecast_progress(Q4, inside[:2] + outside) is None


def test_forecast_needs_three_points_at_two_times() -> None:
    assert forecast_progress(Q4, []) is None
    assert forecast_progress(Q4, [(at_fraction(0.1), 0.1), (at_fraction(0.2), 0.2)]) is None
    same_time = [(at_fraction(0.3), p) for p in (0.1, 0.2, 0.3)]
    assert forecast_progress(Q4, same_time) is None


# --- key-result status --------------------------------------------------------------------


def status(kr: KeyResult, progress: float | None, expected: float, **kw: Any) -> Status:
    args: dict[str, Any] = {"now": NOW, "measured_at": NOW - timedelta(minutes=5)}
    args["last_status"] = "ok"
    args.update(kw)
    return kr_status(kr, progress=progress, expected=expected, **args)


INCREASE = make_kr(start=0, target=100)


def test_error_takes_precedence_over_stale_and_done() -> None:
    assert status(INCREASE, 1.0, 0.5, last_status="error") == "error"
    assert status(INCREASE, 1.0, 0.5, last_status="error", measured_at=None) == "error"


def test_stale_when_never_measured_or_older_than_freshness() -> None:
    assert INCREASE.freshness == timedelta(hours=3)  # 3 x the default 1h refresh
    assert status(INCREASE, 0.5, 0.5, measured_at=None) == "stale"
    assert status(INCREASE, 0.5, 0.5, measured_at=NOW - timedelta(hours=3, seconds=1)) == "stale"
    assert status(INCREASE, 0.5, 0.5, measured_at=NOW - timedelta(hours=3)) == "on_track"
    assert status(INCREASE, None, 0.5) == "stale"


def test_stale_after_overrides_the_default_window() -> None:
    kr = make_kr(start=0, target=10, stale_after="2d")
    assert status(kr, 0.5, 0.5, measured_at=NOW - timedelta(days=1)) == "on_track"
    assert status(kr, 0.5, 0.5, measured_at=NOW - timedelta(days=2, minutes=1)) == "stale"


def test_held_keeps_the_status_of_the_last_good_value() -> None:
    assert status(INCREASE, 0.5, 0.5, last_status="held") == "on_track"
    assert status(INCREASE, 0.5, 0.5, last_status=None) == "on_track"


@pytest.mark.parametrize(
    ("progress", "expected", "want"),
    [
        (1.0, 0.3, "done"),
        (1.4, 0.3, "done"),
        (0.5, 0.5, "on_track"),
        (0.9, 0.5, "on_track"),  # ahead of the calendar
        (0.5, 0.6, "on_track"),  # gap exactly ON_TRACK_GAP despite float noise
        (0.45, 0.6, "at_risk"),
        (0.35, 0.6, "at_risk"),  # gap exactly AT_RISK_GAP
        (0.3, 0.6, "off_track"),
        (-0.2, 0.05, "on_track"),  # regression clamps to 0: gap 0.05, not 0.25
    ],
)
def test_increase_status_by_gap(progress: float, expected: float, want: Status) -> None:
    assert status(INCREASE, progress, expected) == want
    assert status(make_kr(start=120, target=30), progress, expected) == want


def test_with_a_forecast_the_status_is_where_the_trend_lands() -> None:
    assert status(INCREASE, 0.3, 0.6) == "off_track"  # no forecast: the gap decides
    assert status(INCREASE, 0.3, 0.6, forecast=0.7) == "at_risk"
    assert status(INCREASE, 0.3, 0.6, forecast=0.95) == "on_track"  # behind, but heading there
    assert status(INCREASE, 0.55, 0.6) == "on_track"  # by the gap
    assert status(INCREASE, 0.55, 0.6, forecast=0.5) == "off_track"  # heading away: says so
    assert status(INCREASE, 1.0, 0.6, forecast=0.5) == "done"


def test_forecast_no_longer_counts_once_the_cycle_is_over() -> None:
    assert status(INCREASE, 0.8, 1.0, forecast=1.2, cycle_over=True) == "at_risk"
    assert status(INCREASE, 0.95, 1.0, cycle_over=True) == "on_track"


def test_milestone_status() -> None:
    kr = make_kr(type="milestone")
    assert status(kr, 1.0, 0.9) == "done"
    assert status(kr, 0.0, 0.5) == "on_track"
    assert status(kr, 0.0, 0.51) == "at_risk"
    assert status(kr, 0.0, 1.0, cycle_over=True) == "off_track"
    assert status(kr, 1.0, 1.0, cycle_over=True) == "done"


def test_maintain_status() -> None:
    kr = make_kr(type="maintain", target=99.5)
    assert status(kr, 1.0, 0.9) == "on_track"
    assert status(kr, 0.0, 0.1) == "off_track"


# --- roll-up and objective status ---------------------------------------------------------


def test_weighted_progress() -> None:
    assert weighted_progress([(1.0, 3.0), (0.0, 1.0)]) == 0.75
    assert weighted_progress([(0.5, 1.0), (None, 5.0)]) == 0.5
    assert weighted_progress([(None, 1.0)]) is None
    assert weighted_progress([]) is None


def test_rollup_key_results_weighted_and_clamped() -> None:
    obj = make_objective(
        "revenue",
        key_results=[
            {"id": "a", "title": "A", "start": 0, "target": 1, "weight": 3},
            {"id": "b", "title": "B", "start": 0, "target": 1},
            {"id": "c", "title": "C", "start": 0, "target": 1},
        ],
    )
    assert rollup([obj], {"a": 1.5, "b": 0.0})["revenue"] == 0.75  # c unmeasured, a clamped
    assert rollup([obj], {}) == {"revenue": None}


def test_rollup_children_aligned_by_objective_or_kr_id() -> None:
    kr = {"id": "sales", "title": "Sales", "start": 0, "target": 1}
    parent = make_objective("company", rollup="children", key_results=[kr])
    by_kr = make_objective("team-a", parent="sales", weight=2, key_results=[{**kr, "id": "a"}])
    by_obj = make_objective("team-b", parent="company", key_results=[{**kr, "id": "b"}])
    grandchild = make_objective("person", parent="b", key_results=[{**kr, "id": "p"}])
    plain = make_objective("plain", key_results=[{**kr, "id": "x"}])
    unrelated = make_objective("other", parent="plain", key_results=[{**kr, "id": "y"}])
    objectives = [parent, by_kr, by_obj, grandchild, plain, unrelated]
    result = rollup(objectives, {"sales": 0.0, "a": 1.0, "b": 0.5, "p": 0.0, "x": 0.2, "y": 1})
    # company = (sales 0.0 * 1 + team-a 1.0 * 2 + team-b 0.5 * 1) / 4
    assert result["company"] == pytest.approx(0.625)
    assert result["team-b"] == 0.5  # rollup: key_results ignores its aligned child
    assert result["plain"] == 0.2


def test_rollup_rejects_an_alignment_cycle() -> None:
    kr = {"id": "k1", "title": "K", "start": 0, "target": 1}
    one = make_objective("one", parent="two", rollup="children", key_results=[kr])
    two = make_objective("two", parent="k1", rollup="children")
    with pytest.raises(ValueError, match=r"cycle: .*one"):
        rollup([one, two], {"k1": 0.5})


@pytest.mark.parametrize(
    ("progress", "statuses", "want"),
    [
        (None, ["error", "stale"], "error"),
        (None, ["stale", "stale"], "stale"),
        (None, [], "stale"),
        (1.0, ["done", "done"], "done"),
        (None, ["on_track", "stale"], "stale"),
        # a maintain guard rail holding at 1.0 is on_track, never done: nor is its objective
        (1.0, ["done", "on_track"], "on_track"),
        (0.5, ["on_track", "error"], "on_track"),
        (0.5 - ON_TRACK_GAP - 0.01, ["at_risk"], "at_risk"),
        (0.5 - AT_RISK_GAP - 0.01, ["off_track"], "off_track"),
    ],
)
def test_objective_status(progress: float | None, statuses: list[Status], want: Status) -> None:
    assert objective_status(progress, 0.5, statuses) == want


def test_objective_status_expects_everything_once_the_cycle_is_over() -> None:
    assert objective_status(0.8, 0.8, ["on_track"]) == "on_track"
    assert objective_status(0.8, 0.8, ["on_track"], cycle_over=True) == "at_risk"


# --- grading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "progress", "score", "success"),
    [
        ("committed", 0.7, 0.7, False),
        ("committed", 0.99, 0.99, False),
        ("committed", 1.0, 1.0, True),
        ("committed", 1.3, 1.0, True),
        ("aspirational", 0.69, 0.69, False),
        ("aspirational", 0.7, 0.7, True),
        ("aspirational", 0.99, 0.99, True),
        ("aspirational", 1.0, 1.0, True),
        ("aspirational", 0.70449, 0.7, True),
        ("aspirational", None, 0.0, False),
        ("committed", -0.4, 0.0, False),
    ],
)
def test_grade(kind: GradeKind, progress: float | None, score: float, success: bool) -> None:
    got = grade(make_objective("o", kind=kind), progress)
    assert got == Grade(score=score, success=success, kind=kind)
    assert SUCCESS_ASPIRATIONAL == 0.7


# --- properties ---------------------------------------------------------------------------

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
seconds = st.integers(min_value=-10 * 86_400, max_value=110 * 86_400)


@st.composite
def increase_bounds(draw: st.DrawFn) -> tuple[float, float]:
    a, b = draw(finite), draw(finite)
    assume(a != b)
    return min(a, b), max(a, b)


@given(st.floats(allow_nan=False))
def test_clamp_is_within_unit_interval(progress: float) -> None:
    clamped = clamp(progress)
    assert clamped is not None
    assert 0.0 <= clamped <= 1.0


@given(increase_bounds(), finite, st.booleans())
def test_clamped_raw_progress_is_within_unit_interval(
    bounds: tuple[float, float], value: float, decrease: bool
) -> None:
    start, target = reversed(bounds) if decrease else bounds
    clamped = clamp(raw_progress(make_kr(start=start, target=target), value))
    assert clamped is not None
    assert 0.0 <= clamped <= 1.0


@given(increase_bounds(), finite, finite)
def test_raw_progress_is_monotone_in_the_value(
    bounds: tuple[float, float], v1: float, v2: float
) -> None:
    low, high = min(v1, v2), max(v1, v2)
    a, b = bounds
    up, down = make_kr(start=a, target=b), make_kr(start=b, target=a)
    assert (up.kind, down.kind) == ("increase", "decrease")
    assert raw(up, low) <= raw(up, high)
    assert raw(down, low) >= raw(down, high)


@given(increase_bounds(), finite)
def test_direction_symmetry(bounds: tuple[float, float], value: float) -> None:
    a, b = bounds
    up = raw(make_kr(start=a, target=b), value)
    # Mirroring every number turns an increase into a decrease with the same progress.
    assert raw_progress(make_kr(start=-a, target=-b), -value) == up
    # Swapping start and target measures the remaining way: progress' = 1 - progress.
    down = raw_progress(make_kr(start=b, target=a), value)
    assert down == pytest.approx(1.0 - up, rel=1e-9, abs=1e-9)


@given(increase_bounds(), st.booleans())
def test_progress_is_zero_at_start_and_one_at_target(
    bounds: tuple[float, float], decrease: bool
) -> None:
    start, target = reversed(bounds) if decrease else bounds
    kr = make_kr(start=start, target=target)
    assert raw_progress(kr, start) == 0.0
    assert raw_progress(kr, target) == 1.0


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
            st.floats(min_value=1e-3, max_value=1e3),
        ),
        max_size=20,
    )
)
def test_weighted_progress_lies_between_its_parts(parts: list[tuple[float | None, float]]) -> None:
    got = weighted_progress(parts)
    present = [p for p, _ in parts if p is not None]
    if not present:
        assert got is None
    else:
        assert got is not None
        assert min(present) <= got <= max(present)


@given(seconds, seconds)
def test_expected_progress_is_monotone_and_bounded(s1: int, s2: int) -> None:
    early = Q4.start_at + timedelta(seconds=min(s1, s2))
    late = Q4.start_at + timedelta(seconds=max(s1, s2))
    e1, e2 = expected_progress(Q4, early), expected_progress(Q4, late)
    assert 0.0 <= e1 <= e2 <= 1.0


@given(
    st.lists(st.integers(min_value=0, max_value=92 * 86_400), min_size=3, unique=True),
    st.floats(min_value=-2, max_value=2),
    st.floats(min_value=-3, max_value=3),
)
def test_forecast_recovers_any_straight_line(times: list[int], base: float, slope: float) -> None:
    total = (Q4.end_at - Q4.start_at).total_seconds()
    assume(max(times) - min(times) >= MIN_SPAN * total)  # closer together: no forecast
    points = [(Q4.start_at + timedelta(seconds=t), base + slope * t / total) for t in times]
    assert forecast_progress(Q4, points) == pytest.approx(base + slope, abs=1e-6)
