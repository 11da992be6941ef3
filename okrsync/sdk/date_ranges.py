"""``date_range``: the days an analytics metric is measured over.

Analytics APIs answer "how many between day A and day B", so their sources
name a window rather than writing dates into a query string. One vocabulary
for every analytics connector (GA4, Mixpanel, Amplitude, Plausible …):

    ===================  ==================================================
    ``cycle`` (default)  cycle start → the as-of day (capped at cycle end):
                         the cycle so far, so backfill sees what was known
    ``full_cycle``       cycle start → cycle end
    ``last_N_days``      the N whole days before the as-of day
                         (GA4's ``NdaysAgo``…``yesterday``); N in 1..3650
    ``{start, end}``     explicit ISO dates or ``{cycle.start}``,
                         ``{cycle.end}``, ``{as_of}`` (its day)
    ===================  ==================================================

Both ends are inclusive days, as every one of these APIs counts them. A
connector's ``render`` turns the spec into a concrete :class:`DateSpan`
(:func:`render_window`), so identical windows deduplicate and the run log
shows real dates.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from okrsync.sdk.connector import RenderContext, SourceBase
from okrsync.sdk.placeholders import iso_values, render_source

_LAST = re.compile(r"last_(\d{1,4})_days")
_NAMED = ("cycle", "full_cycle")
_DAY_PLACEHOLDERS = {"{cycle.start}", "{cycle.end}", "{as_of}"}


class DateSpan(BaseModel):
    """Inclusive days; before rendering either end may be a placeholder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str
    end: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _unquoted(cls, value: object) -> object:
        """YAML reads an unquoted 2026-10-01 as a date: take it as the day it is."""
        return value.isoformat() if isinstance(value, date) else value

    @field_validator("start", "end")
    @classmethod
    def _day(cls, text: str) -> str:
        if text in _DAY_PLACEHOLDERS:
            return text
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date like 2026-10-01 or one of {sorted(_DAY_PLACEHOLDERS)}"
            ) from None
        return text

    @model_validator(mode="after")
    def _ordered(self) -> DateSpan:
        literal = self.start not in _DAY_PLACEHOLDERS and self.end not in _DAY_PLACEHOLDERS
        if literal and date.fromisoformat(self.end) < date.fromisoformat(self.start):
            raise ValueError(f"date_range ends ({self.end}) before it starts ({self.start})")
        return self


DateRange = str | DateSpan


def check_range(spec: DateRange) -> DateRange:
    """Validator for a ``date_range`` field: a clear message for a wrong name."""
    if isinstance(spec, DateSpan) or spec in _NAMED or _valid_last(spec):
        return spec
    raise ValueError(
        f"date_range {spec!r}: use cycle, full_cycle, last_N_days (e.g. last_28_days) "
        "or {start: YYYY-MM-DD, end: YYYY-MM-DD}"
    )


def _valid_last(spec: str) -> bool:
    match = _LAST.fullmatch(spec)
    return match is not None and 1 <= int(match.group(1)) <= 3650


def resolve(spec: DateRange, ctx: RenderContext) -> tuple[date, date]:
    """The inclusive (first, last) day the spec means at ``ctx``."""
    day = ctx.as_of.date()
    start, end = ctx.cycle.start, ctx.cycle.end
    if isinstance(spec, DateSpan):
        values = {"{cycle.start}": start, "{cycle.end}": end, "{as_of}": day}
        first = values.get(spec.start) or date.fromisoformat(spec.start)
        last = values.get(spec.end) or date.fromisoformat(spec.end)
        return first, last
    if spec == "cycle":
        return start, max(start, min(day, end))
    if spec == "full_cycle":
        return start, end
    match = _LAST.fullmatch(spec)
    if match is None:  # check_range ran at load time; this is a programming error
        raise ValueError(f"unknown date_range {spec!r}")
    days = int(match.group(1))
    return day - timedelta(days=days), day - timedelta(days=1)


def span(spec: DateRange) -> tuple[date, date]:
    """The concrete days of a *rendered* source's window."""
    if not isinstance(spec, DateSpan) or spec.start in _DAY_PLACEHOLDERS:
        raise TypeError(
            "date_range was not rendered; the connector's render must use render_window"
        )
    return date.fromisoformat(spec.start), date.fromisoformat(spec.end)


S = TypeVar("S", bound=SourceBase)


def render_window(source: S, ctx: RenderContext) -> S:
    """Fill ISO placeholders in the source's strings and pin ``date_range`` to days."""
    spec: DateRange = getattr(source, "date_range")  # noqa: B009 - every windowed source has it
    first, last = resolve(spec, ctx)  # a reversed window is sent as is: the vendor says why
    rendered = render_source(source.model_copy(update={"date_range": "cycle"}), ctx, iso_values)
    # model_construct: a reversed window is not refused here (one bad source must
    # not stop the plan); the vendor refuses it and that key result says why.
    window = DateSpan.model_construct(start=first.isoformat(), end=last.isoformat())
    return rendered.model_copy(update={"date_range": window})


__all__ = ["DateRange", "DateSpan", "check_range", "render_window", "resolve", "span"]
