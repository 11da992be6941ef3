"""When ``okrsync run`` syncs: an interval (``15m``) or a cron expression (croniter)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from croniter import croniter

from okrsync.domain.units import parse_duration

MAX_JITTER = timedelta(seconds=30)
SHORTEST = timedelta(seconds=1)  # below this a schedule is a busy loop of empty runs
LONGEST = timedelta(days=366)  # beyond this, next-run arithmetic soon overflows datetime


class Schedule(Protocol):
    @property
    def text(self) -> str: ...

    def next_after(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class Interval:
    text: str
    every: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.every


@dataclass(frozen=True)
class Cron:
    text: str

    def next_after(self, moment: datetime) -> datetime:
        nxt: datetime = croniter(self.text, moment).get_next(datetime)
        return nxt


def parse_schedule(text: str) -> Schedule:
    """``15m``/``1h`` (1s to 366d) or a five-field cron expression (UTC).

    Every refusal is a ValueError with a one-line reason (never OverflowError).
    """
    text = text.strip()
    try:
        every = parse_duration(text)
    except OverflowError:
        raise ValueError(f"schedule {text!r} is too long: at most {LONGEST.days}d") from None
    except ValueError as exc:
        if "too long" in str(exc):  # a duration, but longer than timedelta holds
            raise ValueError(f"schedule {text!r} is too long: at most {LONGEST.days}d") from None
    else:
        if every < SHORTEST:
            raise ValueError(f"schedule {text!r} is too short: at least 1s")
        if every > LONGEST:
            raise ValueError(f"schedule {text!r} is too long: at most {LONGEST.days}d")
        return Interval(text, every)
    if croniter.is_valid(text) and len(text.split()) == 5:
        return Cron(text)
    raise ValueError(
        f"invalid schedule {text!r}: write an interval like 15m or 1h, "
        "or a five-field cron expression like '*/15 * * * *' (UTC)"
    )


def period(schedule: Schedule, moment: datetime) -> timedelta:
    """The gap between the next two runs: sizes jitter and the stall alarm."""
    first = schedule.next_after(moment)
    return schedule.next_after(first) - first


def jitter(schedule: Schedule, moment: datetime) -> float:
    """Up to 10 % of the period (at most 30 s), so replicas and cron fleets spread out."""
    bound = min(period(schedule, moment) * 0.1, MAX_JITTER)
    return random.uniform(0, bound.total_seconds())  # noqa: S311 - not for security


__all__ = ["Cron", "Interval", "Schedule", "jitter", "parse_schedule", "period"]
