"""Cycles, durations and how values are shown."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from connectors.http import HttpSource
from okrsync.domain.cycle import Cycle
from okrsync.domain.units import (
    MAX_DURATION_DAYS,
    format_duration,
    format_value,
    parse_clock,
    parse_duration,
)
from okrsync.sdk.connector import RenderContext
from okrsync.sdk.placeholders import find_placeholders, render_source


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2024-H1", date(2024, 1, 1), date(2024, 6, 30)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_cycle_names(text: str, start: date, end: date) -> None:
    cycle = Cycle.model_validate(text)
    assert (cycle.start, cycle.end, cycle.name) == (start, end, text)


def test_cycle_elapsed_fraction_is_clamped_and_exact_at_midpoint() -> None:
    cycle = Cycle.model_validate({"start": "2026-01-01", "end": "2026-01-10"})
    assert cycle.elapsed(datetime(2025, 12, 1, tzinfo=UTC)) == 0.0
    assert cycle.elapsed(datetime(2026, 1, 6, tzinfo=UTC)) == 0.5
    assert cycle.elapsed(datetime(2026, 2, 1, tzinfo=UTC)) == 1.0
    assert cycle.is_over(datetime(2026, 1, 11, tzinfo=UTC))
    assert not cycle.is_over(datetime(2026, 1, 10, 23, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    "bad",
    [
        "2026-Q0",
        "2026-Q5",
        "2026-H3",
        "26",
        "Q4-2026",
        {"start": "2026-02-01", "end": "2026-01-01"},
    ],
)
def test_invalid_cycles(bad: object) -> None:
    with pytest.raises(ValueError, match="cycle"):
        Cycle.model_validate(bad)


def test_durations() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration(30) == timedelta(seconds=30)
    assert format_duration(timedelta(minutes=90)) == "90m"
    assert format_duration(timedelta(days=1)) == "1d"
    for bad in ("15", "m", "-5m", "0s", "1y"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


@pytest.mark.parametrize(
    "bad",
    ["99999999999999999999d", "1000000000d", 10**400, 1e300, float("inf"), float("nan")],
    ids=["20-digit-days", "max-plus-one", "10**400", "1e300", "inf", "nan"],
)
def test_durations_timedelta_cannot_hold_are_value_errors(bad: str | float) -> None:
    # OverflowError (not a ValueError) passed through pydantic as a traceback: issue #16.7
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)
    assert parse_duration(f"{MAX_DURATION_DAYS}d") == timedelta(days=MAX_DURATION_DAYS)


def test_clock_values_and_display() -> None:
    assert parse_clock("2:37") == 157
    assert parse_clock("1:02:03") == 3723
    assert parse_clock("2:61") is None
    assert format_value(225, "duration") == "3:45"
    assert format_value(3723, "s") == "1:02:03"
    assert format_value(12_500_000, "USD") == "12.5M USD"
    assert format_value(99.73, "%") == "99.73%"
    assert format_value(1204, None) == "1,204"
    assert format_value(None, "USD") == "—"


def test_placeholders_render_only_the_fixed_set() -> None:
    source = HttpSource(
        connection="c",
        path="/x?from={cycle.start}&to={cycle.end}&at={as_of}&raw={other}",
        value="$.a",
    )
    assert find_placeholders(source.model_dump()) == {"cycle.start", "cycle.end", "as_of", "other"}
    ctx = RenderContext(Cycle.model_validate("2026-Q4"), datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC))
    rendered = render_source(source, ctx)
    assert rendered.path == "/x?from=2026-10-01&to=2026-12-31&at=2026-11-02T03:04:05Z&raw={other}"
    body = HttpSource(
        connection="c",
        path="/q",
        value="$.a",
        method="POST",
        body={"q": '{"json": 1}', "d": "{cycle.end}"},
    )
    assert render_source(body, ctx).body == {"q": '{"json": 1}', "d": "2026-12-31"}
