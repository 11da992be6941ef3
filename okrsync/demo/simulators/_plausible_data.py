"""The Plausible simulator's numbers (for :mod:`okrsync.demo.simulators.plausible`).

Deterministic: pageviews follow ``metric_value("website_pageviews", …)`` and
visit_duration ``metric_value("avg_session_duration_seconds", …)`` for the window
(counts scaled by its length against a 92-day quarter); visitors, visits and events
are proportional to pageviews; each filter keeps a fixed share (from a CRC of the
filter, so v1 and v2 forms of one filter agree). Days after ``today`` hold no data.
"""

from __future__ import annotations

import json
import zlib
from datetime import date
from typing import Any

from okrsync.demo.simulators.stats import metric_value

QUARTER_DAYS = 92


def _crc(value: Any) -> int:
    return zlib.crc32(json.dumps(value, sort_keys=True).encode())


def filter_share(item: list[Any]) -> float:
    """The fixed share of traffic a filter keeps (``is_not`` keeps the rest)."""
    op, rest = item[0], item[1:]
    base = {"is_not": "is", "contains_not": "contains", "matches_not": "matches"}.get(op, op)
    share = 0.05 + (_crc([base, *rest]) % 56) / 100
    return 1 - share if base != op else share


def metric_values(
    metrics: list[str], filters: list[list[Any]], first: date, last: date, today: date
) -> dict[str, float | int]:
    """The simulator's answer for ``[first, last]`` as seen on ``today``."""
    if first > today:
        return {m: 0.0 if m == "views_per_visit" else 0 for m in metrics}
    scale = ((last - first).days + 1) / QUARTER_DAYS
    share = 1.0
    for item in filters:
        share *= filter_share(item)
    pageviews = metric_value("website_pageviews", first, last, today) * scale * share
    visits = pageviews * 0.46
    values: dict[str, float | int] = {
        "pageviews": round(pageviews),
        "visitors": round(pageviews * 0.38),
        "visits": round(visits),
        "events": round(pageviews * 1.06),
        "views_per_visit": round(pageviews / visits, 2) if visits >= 1 else 0.0,
        "bounce_rate": 38 + _crc([first.isoformat(), last.isoformat()]) % 17,
        "visit_duration": round(metric_value("avg_session_duration_seconds", first, last, today)),
    }
    return {m: values[m] for m in metrics}


__all__ = ["filter_share", "metric_values"]
