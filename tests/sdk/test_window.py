"""okrsync.window: the date_range vocabulary every analytics connector shares."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError, field_validator

from okrsync.config.yaml_positions import parse
from okrsync.domain.cycle import Cycle
from okrsync.sdk.connector import RenderContext, SourceBase
from okrsync.sdk.date_ranges import DateRange, DateSpan, check_range, render_window, resolve, span

Q4 = Cycle(start=date(2026, 10, 1), end=date(2026, 12, 31))


def ctx(day: date) -> RenderContext:
    return RenderContext(cycle=Q4, as_of=datetime(day.year, day.month, day.day, 12, tzinfo=UTC))


class Windowed(SourceBase):
    metric: str
    date_range: DateRange = "cycle"

    @field_validator("date_range")
    @classmethod
    def _range(cls, spec: DateRange) -> DateRange:
        return check_range(spec)


@pytest.mark.parametrize(
    ("spec", "today", "expected"),
    [
        ("cycle", date(2026, 11, 15), (date(2026, 10, 1), date(2026, 11, 15))),
        ("cycle", date(2027, 2, 1), (date(2026, 10, 1), date(2026, 12, 31))),  # capped at end
        ("cycle", date(2026, 9, 1), (date(2026, 10, 1), date(2026, 10, 1))),  # before it starts
        ("full_cycle", date(2026, 11, 15), (date(2026, 10, 1), date(2026, 12, 31))),
        ("last_7_days", date(2026, 11, 15), (date(2026, 11, 8), date(2026, 11, 14))),
        ("last_1_days", date(2026, 11, 15), (date(2026, 11, 14), date(2026, 11, 14))),
        (
            DateSpan(start="{cycle.start}", end="{as_of}"),
            date(2026, 11, 15),
            (date(2026, 10, 1), date(2026, 11, 15)),
        ),
        (
            DateSpan(start="2026-11-01", end="{cycle.end}"),
            date(2026, 11, 15),
            (date(2026, 11, 1), date(2026, 12, 31)),
        ),
    ],
)
def test_resolve(spec: DateRange, today: date, expected: tuple[date, date]) -> None:
    assert resolve(spec, ctx(today)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("last_week", "use cycle, full_cycle, last_N_days"),
        ("last_0_days", "use cycle, full_cycle, last_N_days"),
        ("last_9999_days", "use cycle, full_cycle, last_N_days"),
        ({"start": "2026-13-01", "end": "2026-12-01"}, "not a date like 2026-10-01"),
        ({"start": "2026-12-01", "end": "2026-11-01"}, "ends (2026-11-01) before it starts"),
        ({"start": "2026-12-01"}, "Field required"),
        ({"start": "{today}", "end": "{as_of}"}, "not a date like"),
    ],
)
def test_invalid_ranges_say_why(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Windowed.model_validate({"connection": "c", "metric": "m", "date_range": value})


def test_unquoted_yaml_dates_are_days(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text('date_range: {start: 2026-11-01, end: "{as_of}"}\n', encoding="utf-8")
    data = parse(path).data  # YAML gives a date object for the unquoted day
    assert isinstance(data["date_range"]["start"], date)
    source = Windowed.model_validate({"connection": "c", "metric": "m", **data})
    assert resolve(source.date_range, ctx(date(2026, 11, 15))) == (
        date(2026, 11, 1),
        date(2026, 11, 15),
    )


def test_render_pins_days_and_fills_other_placeholders() -> None:
    source = Windowed.model_validate(
        {"connection": "c", "metric": "since {cycle.start}", "date_range": "last_28_days"}
    )
    rendered = render_window(source, ctx(date(2026, 11, 15)))
    assert rendered.metric == "since 2026-10-01"
    assert span(rendered.date_range) == (date(2026, 10, 18), date(2026, 11, 14))
    assert rendered.connection == "c"
    with pytest.raises(TypeError, match="not rendered"):
        span(source.date_range)


def test_a_reversed_window_is_rendered_for_the_vendor_to_refuse() -> None:
    source = Windowed.model_validate(
        {"connection": "c", "metric": "m", "date_range": {"start": "{as_of}", "end": "2026-10-05"}}
    )
    rendered = render_window(source, ctx(date(2026, 11, 15)))  # must not raise: one KR's problem
    assert span(rendered.date_range) == (date(2026, 11, 15), date(2026, 10, 5))
