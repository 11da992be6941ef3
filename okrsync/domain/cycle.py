"""Cycles (OKR periods) and the elapsed fraction that sets expected progress.

A cycle is written ``2026-Q4``, ``2026-H1``, ``2026`` or ``{start, end}``;
both ends are inclusive calendar days in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_HALF = re.compile(r"^(\d{4})-H([12])$")
_YEAR = re.compile(r"^(\d{4})$")


class Cycle(BaseModel):
    """An inclusive date range with a display name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    start: date
    end: date

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, int):
            data = str(data)
        if isinstance(data, str):
            return parse_cycle_name(data)
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Cycle:
        if self.end < self.start:
            raise ValueError(f"cycle end {self.end} is before its start {self.start}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.start}..{self.end}")
        return self

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        """The instant the cycle is over: midnight after its last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def elapsed(self, now: datetime) -> float:
        """Fraction of the cycle gone by at ``now``, in [0, 1]."""
        total = (self.end_at - self.start_at).total_seconds()
        done = (now - self.start_at).total_seconds()
        return min(1.0, max(0.0, done / total))

    def is_over(self, now: datetime) -> bool:
        return now >= self.end_at

    def as_of(self, now: datetime) -> datetime:
        """What a query about this cycle is measured as of: ``now``, or its last second once over.

        "Sign-ups this quarter" must stop counting when the quarter does, and a
        finished cycle's score must stop moving.
        """
        return min(now, self.end_at - timedelta(seconds=1))


def parse_cycle_name(text: str) -> dict[str, Any]:
    """``2026-Q4`` → ``{"name", "start", "end"}``; ValueError names the forms."""
    text = text.strip()
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        start = date(year, 3 * q - 2, 1)
        end = _month_end(year, 3 * q)
    elif m := _HALF.match(text):
        year, h = int(m[1]), int(m[2])
        start = date(year, 6 * h - 5, 1)
        end = _month_end(year, 6 * h)
    elif m := _YEAR.match(text):
        year = int(m[1])
        start, end = date(year, 1, 1), date(year, 12, 31)
    else:
        raise ValueError(
            f"invalid cycle {text!r}: write YYYY-Qn (2026-Q4), YYYY-Hn (2026-H1), "
            "YYYY (2026) or {start: YYYY-MM-DD, end: YYYY-MM-DD}"
        )
    return {"name": text, "start": start, "end": end}


def _month_end(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


__all__ = ["Cycle", "parse_cycle_name"]
