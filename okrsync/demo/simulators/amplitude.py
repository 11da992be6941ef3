"""An Amplitude project's Dashboard REST API on 127.0.0.1: Event Segmentation, events list.

As in PROTOCOLS-ANALYTICS.md and amplitude/amplitude-docs ``dashboard-rest.md``:

    GET /api/2/events/list           (no parameters)
      → {"data": [{"non_active", "value", "totals", "deleted", "flow_hidden",
                   "hidden", "display"}, …]}   ("Get events list": ``value`` is the
                                               raw name, ``totals`` this week's count)

    GET /api/2/events/segmentation   e={"event_type", "filters"} (JSON), start, end
                                     (YYYYMMDD, inclusive), m uniques (default) |
                                     totals | pct_dau | average, i=1 (daily, default)
      → {"data": {"series": [[day values]], "seriesLabels": [0],
                  "seriesCollapsed": [[{"setId": "", "value": n}]], "xValues": [days]}}

Auth is HTTP Basic ``api_key:secret_key``. Cost limits as documented, per project:
a query costs days * conditions * 1 per event, at most 1000 per 5 minutes and
108,000 per hour, else 429 (the 5-concurrent limit is not simulated). Amplitude documents no
error bodies and no Retry-After: errors here are short plain-text messages (their
wording is ours) and no Retry-After is sent. What is not simulated (``g``, ``s``,
``e2``, property metrics, other intervals) is a 400, never a made-up answer.

Numbers come from :func:`okrsync.demo.simulators.mixpanel.event_count` (the same
product measured by both tools). ``_active`` / ``_all`` count every event; active
users are a share of page views. An event the project never saw answers zeros
(unverified for the real API). Each filter keeps a fixed share of the events.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from okrsync.demo.simulators.mixpanel import EVENTS, event_count, where_share
from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_API_KEY = "amp-demo-api-key-0c7f3e"
DEMO_SECRET_KEY = "amp-demo-secret-key-91d4b8"  # noqa: S105 - published, accepted only here
ANY_EVENT = ("_active", "_all")
DELETED_EVENTS = ("Legacy Checkout",)  # listed with "deleted": true
METRICS = ("uniques", "totals", "pct_dau", "average")
OPS = (
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "set is",
    "set is not",
)
_DAY = re.compile(r"\d{8}")


def _utc_today() -> date:
    return datetime.now(UTC).date()


class Day:
    """One day of an event: its count, the people who did it, and the day's active users."""

    def __init__(self, event: str, day: date, today: date, share: float) -> None:
        counts = {name: event_count(name, day, today) for name in EVENTS}
        self.active = round(counts["Page Viewed"] * 0.08)
        if event in ANY_EVENT:
            self.total, self.people = (
                round(sum(counts.values()) * share),
                round(self.active * share),
            )
        else:
            count = event_count(event, day, today)
            self.total = round(count * share)
            self.people = round(min(self.active, count * 0.7) * share)


def over_range(daily: list[int]) -> int:
    """People counted once over the range: most of them come back on other days."""
    if not daily:
        return 0
    peak = max(daily)
    return round(peak + (sum(daily) - peak) * 0.3)


def metric_values(
    metric: str, event: str, first: date, last: date, today: date, share: float
) -> tuple[list[int] | list[float], int | float]:
    """(one value per day, the range-wide value of the chart's bar); counts are integers."""
    days = [
        Day(event, first + timedelta(days=n), today, share) for n in range((last - first).days + 1)
    ]
    people, active = over_range([d.people for d in days]), over_range([d.active for d in days])
    total = sum(d.total for d in days)
    if metric == "totals":
        return [d.total for d in days], total
    if metric == "uniques":
        return [d.people for d in days], people
    if metric == "pct_dau":
        daily = [round(100 * d.people / d.active, 4) if d.active else 0.0 for d in days]
        return daily, round(100 * people / active, 4) if active else 0.0
    daily = [round(d.total / d.people, 4) if d.people else 0.0 for d in days]
    return daily, round(total / people, 4) if people else 0.0


class AmplitudeSimulator(FakeServer):
    """One project (``api_key`` / ``secret_key``); see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        secret_key: str = DEMO_SECRET_KEY,
        today: Callable[[], date] = _utc_today,
        latency: float = 0.0,
        cost_per_5_minutes: int = 1000,
        cost_per_hour: int = 108_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.api_key, self.secret_key, self.today = api_key, secret_key, today
        self.cost_per_5_minutes, self.cost_per_hour = cost_per_5_minutes, cost_per_hour
        self.clock = clock
        self._spent: deque[tuple[float, int]] = deque()  # (when, cost) of the last hour
        self._lock = threading.Lock()
        self.route("GET", r"/api/2/events/segmentation", self._segmentation)
        self.route("GET", r"/api/2/events/list", self._events_list)

    def authorize(self, request: Request) -> Response | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True) if scheme == "Basic" else b""
        except (binascii.Error, ValueError):
            given = b""
        if given and hmac.compare_digest(given, f"{self.api_key}:{self.secret_key}".encode()):
            return None
        return _text(401, "Invalid API key or secret key")

    def _segmentation(self, request: Request) -> Response:
        parsed = _parse(request.query)
        if isinstance(parsed, str):
            return _text(400, parsed)
        event, share, metric, first, last = parsed
        refused = self._admit(cost=(last - first).days + 1)
        if refused is not None:
            return refused
        series, collapsed = metric_values(metric, event, first, last, self.today(), share)
        days = [(first + timedelta(days=n)).isoformat() for n in range(len(series))]
        data = {
            "series": [series],
            "seriesLabels": [0],
            "seriesCollapsed": [[{"setId": "", "value": collapsed}]],
            "xValues": days,
        }
        return Response.json({"data": data})

    def _events_list(self, request: Request) -> Response:
        """Every event of the project with this week's (Monday..today) count."""
        today = self.today()
        week = [today - timedelta(days=n) for n in range(today.weekday() + 1)]
        data = [
            {
                "non_active": False,
                "value": name,
                "totals": sum(event_count(name, day, today) for day in week),
                "deleted": name in DELETED_EVENTS,
                "flow_hidden": False,
                "hidden": False,
                "display": name,
            }
            for name in (*EVENTS, *DELETED_EVENTS)
        ]
        return Response.json({"data": data})

    def _admit(self, cost: int) -> Response | None:
        with self._lock:
            now = self.clock()
            while self._spent and now - self._spent[0][0] >= 3600:
                self._spent.popleft()
            hour = sum(c for _, c in self._spent) + cost
            five = sum(c for t, c in self._spent if now - t < 300) + cost
            if hour > self.cost_per_hour:
                return _text(
                    429,
                    f"Exceeded the query cost limit of {self.cost_per_hour} per hour (this query costs {cost})",
                )
            if five > self.cost_per_5_minutes:
                return _text(
                    429,
                    f"Exceeded the query cost limit of {self.cost_per_5_minutes} per 5 minutes (this query costs {cost})",
                )
            self._spent.append((now, cost))
        return None


def _parse(query: dict[str, str]) -> tuple[str, float, str, date, date] | str:
    """(event, share kept by filters, metric, first, last), or what is wrong."""
    for key in ("g", "s", "e2", "formula", "rollingWindow", "rollingAverage"):
        if key in query:
            return f"{key} is not simulated"
    try:
        spec = json.loads(query.get("e", ""))
    except ValueError:
        return 'e must be a JSON event object, e.g. {"event_type":"_active"}'
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("event_type"), str)
        or not spec["event_type"]
    ):
        return "e must be a JSON object with a non-empty event_type"
    if "group_by" in spec:
        return "group_by is not simulated"
    share = _filters_share(spec.get("filters", []))
    if isinstance(share, str):
        return share
    metric = query.get("m", "uniques")
    if metric not in METRICS:
        if metric in ("histogram", "sums", "value_avg", "formula"):
            return f"m={metric} is not simulated"
        return f"m must be one of uniques, totals, pct_dau, average, histogram, sums, value_avg, formula; got {metric!r}"
    interval = query.get("i", "1")
    if interval != "1":
        return f"i={interval} is not simulated (only 1, daily)"
    bounds: list[date] = []
    for key in ("start", "end"):
        text = query.get(key, "")
        try:
            if not _DAY.fullmatch(text):
                raise ValueError
            bounds.append(datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC).date())
        except ValueError:
            return f"{key} is required, formatted YYYYMMDD; got {text!r}"
    if bounds[1] < bounds[0]:
        return f"end {query['end']} is before start {query['start']}"
    return spec["event_type"], share, metric, bounds[0], bounds[1]


def _filters_share(filters: Any) -> float | str:
    if not isinstance(filters, list):
        return "filters must be a list of filter objects"
    share = 1.0
    keys = {"subprop_type", "subprop_key", "subprop_op", "subprop_value"}
    for item in filters:
        if not isinstance(item, dict) or set(item) != keys:
            return f"each filter needs exactly {sorted(keys)}; got {json.dumps(item)}"
        if item["subprop_type"] not in ("event", "user") or item["subprop_op"] not in OPS:
            return f"invalid filter {json.dumps(item)}"
        if not isinstance(item["subprop_value"], list):
            return f"subprop_value must be a list: {json.dumps(item)}"
        share *= where_share(json.dumps(item, sort_keys=True))
    return share


def _text(status: int, message: str) -> Response:
    return Response(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


__all__ = [
    "ANY_EVENT",
    "DELETED_EVENTS",
    "DEMO_API_KEY",
    "DEMO_SECRET_KEY",
    "METRICS",
    "AmplitudeSimulator",
    "metric_values",
    "over_range",
]
