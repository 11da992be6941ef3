"""Durations in config (``15m``), clock-style values (``2:37``) and display."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION_DAYS = 999_999_999  # timedelta's own bound; longer overflowed
_MAX_SECONDS = MAX_DURATION_DAYS * 86400.0
_CLOCK = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d))?$")

DURATION_UNITS = frozenset({"duration", "s", "sec", "seconds"})
PERCENT_UNITS = frozenset({"%", "percent"})


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """``"15m"`` → 15 minutes; a bare number is seconds.

    ValueError for anything else, including NaN and what timedelta cannot hold
    (``99999999999999999999d`` raised OverflowError, which pydantic lets through).
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(min(text, 10**18))  # float(10**400) would raise; 1e18 is too long
    elif isinstance(text, str) and (m := _DURATION.match(text)):
        seconds = float(m[1]) * _UNIT_SECONDS[m[2]]
    else:
        raise ValueError(
            f"invalid duration {text!r}: write a number and a unit, like 30s, 15m, 1h, 1d"
        )
    if not seconds > 0:  # also NaN
        raise ValueError("a duration must be positive")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"duration too long: at most {MAX_DURATION_DAYS:,} days")
    return timedelta(seconds=seconds)


def format_about(seconds: float) -> str:
    """An interval as people say it, rounded up: ``45s``, ``13m``, ``1h45m``, ``26h``."""
    if seconds < 120:
        return f"{math.ceil(seconds)}s"
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    if not hours:
        return f"{minutes}m"
    return f"{hours}h{minutes}m" if minutes and hours < 24 else f"{hours}h"


def format_duration(delta: timedelta) -> str:
    """The shortest exact form: 900 s → ``15m``."""
    seconds = delta.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_clock(text: str) -> float | None:
    """``"2:37"`` (m:ss) or ``"1:02:03"`` (h:mm:ss) → seconds; None if not a clock value."""
    m = _CLOCK.match(text.strip())
    if not m:
        return None
    if m[3] is None:
        return int(m[1]) * 60 + int(m[2])
    return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])


def format_value(value: float | None, unit: str | None, *, milestone: bool = False) -> str:
    """A number as people read it in an OKR: 12.5M USD, 99.7%, 3:45, 1,204; yes/no for milestones."""
    if value is None:
        return "—"
    if milestone:
        return "yes" if value else "no"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    unit = unit or ""
    if unit in DURATION_UNITS:
        total = round(value)
        sign = "-" if total < 0 else ""
        h, rem = divmod(abs(total), 3600)
        m, s = divmod(rem, 60)
        return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"
    if unit in PERCENT_UNITS:
        return f"{value:.4g}%"
    number = _compact(value)
    return f"{number} {unit}" if unit else number


def _compact(value: float) -> str:
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size * 10 or (magnitude >= size and suffix != "k"):
            return f"{value / size:.4g}{suffix}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.4g}"


__all__ = [
    "DURATION_UNITS",
    "MAX_DURATION_DAYS",
    "PERCENT_UNITS",
    "format_about",
    "format_duration",
    "format_value",
    "parse_clock",
    "parse_duration",
]
