"""The GA4 simulator's runReport body and values: parsing, filters and report maths.

The request body is checked field by field: unknown fields, metric names,
``dateRanges`` as ``YYYY-MM-DD``/``NdaysAgo``/``yesterday``/``today``,
``dimensionFilter`` as ``filter``/``andGroup`` of ``stringFilter`` EXACT. Date-range
and missing-field messages are **unverified** wording; the rest is Google's as seen
in public clients and Google's docs. Errors are :class:`GoogleError`,
``{"error": {"code", "message", "status"}}``. Anything not modelled (dimensions,
other filters, several date ranges …) is a 400 ``INVALID_ARGUMENT`` saying so, never
a made-up number.

Values: activeUsers, averageSessionDuration and screenPageViews follow
:func:`okrsync.demo.simulators.stats.metric_value` (``mau_key_accounts``,
``avg_session_duration_seconds``, ``website_pageviews``) over the requested days;
other metrics are a deterministic function of (name, days); a filter takes a
deterministic share.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from okrsync.demo.simulators.server import Response
from okrsync.demo.simulators.stats import metric_value

SCHEMA = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
# name → (metricHeaders type, stats metric or None); a small part of GA4's API schema
_COUNTS = "newUsers totalUsers sessions engagedSessions eventCount keyEvents transactions"
METRICS: dict[str, tuple[str, str | None]] = {
    "activeUsers": ("TYPE_INTEGER", "mau_key_accounts"),
    "averageSessionDuration": ("TYPE_SECONDS", "avg_session_duration_seconds"),
    "screenPageViews": ("TYPE_INTEGER", "website_pageviews"),
    **{name: ("TYPE_INTEGER", None) for name in _COUNTS.split()},
    "totalRevenue": ("TYPE_CURRENCY", None),
    "userEngagementDuration": ("TYPE_SECONDS", None),
    "bounceRate": ("TYPE_FLOAT", None),
    "engagementRate": ("TYPE_FLOAT", None),
}
DIMENSIONS = {"eventName", "pagePath", "pageTitle", "country", "deviceCategory", "hostName"}
EVENTS = {"page_view", "session_start", "first_visit", "user_engagement", "purchase", "sign_up"}
BODY_FIELDS = {
    "property", "dimensions", "metrics", "dateRanges", "dimensionFilter", "metricFilter",
    "offset", "limit", "metricAggregations", "orderBys", "currencyCode", "cohortSpec",
    "keepEmptyRows", "returnPropertyQuota", "comparisons",
}  # fmt: skip
MODELLED = {"property", "metrics", "dateRanges", "dimensionFilter", "offset", "limit"} | {
    "currencyCode", "keepEmptyRows", "returnPropertyQuota",
}  # fmt: skip
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}|today|yesterday|(\d{1,4})daysAgo")


class GoogleError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.response = Response.json(
            {"error": {"code": code, "message": message, "status": status}}, code
        )


def invalid(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


def parse_query(body: bytes) -> dict[str, Any]:
    try:
        query = json.loads(body or b"{}")
    except ValueError:
        raise invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(query, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    for name in query:
        if name not in BODY_FIELDS:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            )
        if name not in MODELLED:
            raise invalid(f"The okrsync GA4 simulator does not support {name}.")
    return query


def parse_metrics(given: Any) -> list[str]:
    if not isinstance(given, list) or not given:
        raise invalid("At least one metric is required.")  # unverified wording
    names = [m.get("name") if isinstance(m, dict) else None for m in given]
    for name in names:
        if name not in METRICS:
            raise invalid(
                f"Field {name} is not a valid metric. For a list of valid dimensions and "
                f"metrics, see {SCHEMA}"
            )
    return [str(n) for n in names]


def parse_dates(given: Any, today: Callable[[], date]) -> tuple[date, date]:
    if not isinstance(given, list) or not given:
        raise invalid("Must specify at least one date range.")  # unverified wording
    if len(given) > 1:
        raise invalid("The okrsync GA4 simulator supports one date range per request.")
    spec = given[0] if isinstance(given[0], dict) else {}
    start, end = (parse_day(spec.get(k), k, today) for k in ("startDate", "endDate"))
    if end < start:
        raise invalid("endDate cannot be before startDate.")  # unverified wording
    return start, end


def parse_day(text: Any, key: str, today: Callable[[], date]) -> date:
    match = _DAY.fullmatch(text) if isinstance(text, str) else None
    try:
        if match is None:
            raise ValueError(text)
        if text in ("today", "yesterday") or match.group(1):
            back = 0 if text == "today" else 1 if text == "yesterday" else int(match.group(1))
            return today() - timedelta(days=back)
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(
            f"Invalid {key}: {text}. {key} must be YYYY-MM-DD, NdaysAgo, yesterday, or today."
        ) from None


def filter_share(expr: Any, depth: int = 0) -> float:
    """The fraction of data a filter keeps; 0 when nothing matches."""
    if expr is None:
        return 1.0
    if not isinstance(expr, dict) or len(expr) != 1 or depth > 5:
        raise invalid("Invalid JSON payload received. Oneof field 'expr' is already set.")
    kind, inner = next(iter(expr.items()))
    if (
        kind == "andGroup"
        and isinstance(inner, dict)
        and isinstance(inner.get("expressions"), list)
    ):
        share = 1.0
        for item in inner["expressions"]:
            share *= filter_share(item, depth + 1)
        return share
    if kind != "filter" or not isinstance(inner, dict):
        raise invalid(f"The okrsync GA4 simulator does not support {kind} filters.")
    field = inner.get("fieldName")
    if field not in DIMENSIONS:
        raise invalid(
            f"Field {field} is not a valid dimension. For a list of valid dimensions and metrics, see {SCHEMA}"
        )
    string = inner.get("stringFilter")
    if set(inner) != {"fieldName", "stringFilter"} or not isinstance(string, dict):
        raise invalid("The okrsync GA4 simulator supports only stringFilter filters.")
    if string.get("matchType", "EXACT") != "EXACT" or not isinstance(string.get("value"), str):
        raise invalid("The okrsync GA4 simulator supports only stringFilter EXACT.")
    value = string["value"]
    if (field == "eventName" and value not in EVENTS) or (
        field == "pagePath" and not value.startswith("/")
    ):
        return 0.0
    return 0.05 + (zlib.crc32(f"{field}={value}".encode()) % 50) / 100


def amount(metric: str, start: date, end: date, today: date, share: float) -> float:
    """Counts and sums take the filter's share; averages and rates do not."""
    kind, stats = METRICS[metric]
    seed = zlib.crc32(metric.encode())
    if stats is not None:
        value = metric_value(stats, start, end, today)
    elif kind == "TYPE_FLOAT":
        value = 0.3 + (seed % 40) / 100
    else:
        days = (min(end, today) - start).days + 1
        value = (200 + seed % 800) * days * (1 + 0.01 * ((seed + today.toordinal()) % 7))
    averaged = kind == "TYPE_FLOAT" or metric.startswith("average")
    return value if averaged else value * share


def format_value(metric: str, value: float) -> str:
    """As GA4 writes values: integers bare, others as decimals."""
    if METRICS[metric][0] == "TYPE_INTEGER":
        return str(round(value))
    return repr(round(value, 6))
