"""What :mod:`connectors.mixpanel.connector` makes of Query API answers: the one number.

Segmentation: ``data.values[event]`` is ``{date: n}``; ``general`` adds the days,
``unique`` and ``average`` need exactly one range-wide bucket (never a sum). An
absent or empty map is "no data" (Mixpanel answers an unknown event name so).
Insights: ``series: {name: {date: n}}`` (or a bare number / one-entry map); one
series is picked, a breakdown (nested maps) is refused. Everything is checked
to be a finite number.
"""

from __future__ import annotations

from typing import Any, Literal

from connectors._analytics_basic import finite, shape_error
from okrsync.errors import SourceDataError

Kind = Literal["general", "unique", "average"]


def segmentation_value(data: Any, raw: str, event: str, kind: Kind, days: str) -> float:
    """The event's total (general) or its single range-wide bucket (unique, average)."""
    block = data.get("data") if isinstance(data, dict) else None
    values = block.get("values") if isinstance(block, dict) else None
    if not isinstance(values, dict):
        raise shape_error("Mixpanel", "data.values", raw)
    buckets = values.get(event)
    if not buckets:
        raise SourceDataError(
            f"Mixpanel has no data for event {event!r} in {days} "
            "(an unknown event name answers like this: check its spelling and case)"
        )
    if not isinstance(buckets, dict):
        raise shape_error("Mixpanel", f"a date map for {event!r}", raw)
    what = f"Mixpanel {kind} count of {event!r}"
    if kind == "general":
        return sum(finite(v, f"{what} on {day}") for day, v in buckets.items())
    if len(buckets) != 1:
        raise SourceDataError(
            f"{what} came in {len(buckets)} buckets for {days}, expected one (adding them up would count people twice)"
        )
    ((day, value),) = buckets.items()
    return finite(value, f"{what} for {day}")


def report_value(data: Any, raw: str, report: int, wanted: str | None) -> float:
    """One series of an Insights report: its single value, or the sum over its dates."""
    series = data.get("series") if isinstance(data, dict) else None
    if not isinstance(series, dict):
        raise shape_error("Mixpanel", "series", raw)
    names = ", ".join(f'"{name}"' for name in series) or "none"
    if wanted is not None:
        if wanted not in series:
            raise SourceDataError(
                f"Insights report {report} has no series {wanted!r}; it has {names}"
            )
        name = wanted
    elif len(series) != 1:
        raise SourceDataError(
            f"Insights report {report} has {len(series)} series ({names}); pick one with series:"
        )
    else:
        (name,) = series
    content = series[name]
    what = f'Insights report {report} series "{name}"'
    if not isinstance(content, dict):
        return finite(content, what)
    if not content:
        raise SourceDataError(f"{what} has no data")
    if any(isinstance(v, dict) for v in content.values()):
        raise SourceDataError(
            f"{what} is broken down by a property; okrsync needs one number: remove the breakdown"
        )
    return sum(finite(v, f"{what} at {key}") for key, v in content.items())


__all__ = ["Kind", "report_value", "segmentation_value"]
