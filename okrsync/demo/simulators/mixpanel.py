"""A Mixpanel project's Query API on 127.0.0.1: Segmentation and Insights.

Shapes as in PROTOCOLS-ANALYTICS.md and mixpanel/docs ``openapi/src/query.openapi.yaml``:

    GET /api/query/segmentation   project_id, event, from_date, to_date (yyyy-mm-dd,
                                  inclusive), type general|unique|average, unit=day or
                                  interval=N (N-day buckets, not with type=general),
                                  where → {"data": {"series": [...], "values":
                                  {event: {bucket: n}}}, "legend_size": 1}; an event the
                                  project never saw → empty ``values``, legend_size 0
    GET /api/query/insights       project_id, bookmark_id → {computed_at, date_range,
                                  headers, series: {name: {date: n}}}

Auth is HTTP Basic ``username:secret`` of a service account plus the project's
``project_id`` on every request (401 / 400 / 403 otherwise). Errors are
``{"request": "<path?query>", "error": "<message>"}``. Limits as Mixpanel's: at
most ``concurrency`` queries at once and ``hourly_limit`` per rolling hour, each
refused with 429, Retry-After and the one-sentence wording of real answers, whose
counts include the refused request ("Query rate limit exceeded for project_id: N.
1/5 queries running concurrently and 61/60 queries running in the last hour. For
more information, …", airbytehq/airbyte#7126 and #9410). What the
simulator does not implement (``on``, other units) is a 400, never a made-up answer.

Demo numbers: :func:`event_count` is a deterministic daily count per event that
grows through the year with a small daily wobble; days after ``today`` are 0.
``where`` keeps a fixed share of events per expression. :func:`unique_users` is
the range-wide count of people, fewer than the sum of daily uniques.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_USERNAME = "okrsync-demo.5d1e7b.mp-service-account"
DEMO_SECRET = "mp-demo-secret-4e9c2a"  # noqa: S105 - published, accepted only by the simulator
DEMO_PROJECT_ID = 3141592
EVENTS: dict[str, tuple[float, float]] = {  # name → (daily count on 1 January, yearly growth)
    "Signed Up": (120.0, 0.6),
    "Purchase": (38.0, 0.35),
    "Checkout Completed": (52.0, 0.45),
    "Page Viewed": (9500.0, 0.5),
}
WEEKLY_SIGNUPS, SIGNUPS_AND_PURCHASES, CHECKOUTS_TOTAL, PURCHASES_BY_COUNTRY = (
    1001,
    1002,
    1003,
    1004,
)
REPORTS = (WEEKLY_SIGNUPS, SIGNUPS_AND_PURCHASES, CHECKOUTS_TOTAL, PURCHASES_BY_COUNTRY)
EPOCH = date(2026, 1, 1)
LIMITS_DOC = (
    "https://help.mixpanel.com/hc/en-us/articles/115004602563-Rate-Limits-for-Export-API-Endpoints"
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS = ("minute", "hour", "day", "month")
_TYPES = ("general", "unique", "average")


def _utc_today() -> date:
    return datetime.now(UTC).date()


def _days(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def event_count(event: str, day: date, today: date) -> int:
    """How often ``event`` happened on ``day``; 0 for unknown events and the future."""
    if event not in EVENTS or day > today:
        return 0
    base, growth = EVENTS[event]
    trend = 1.0 + growth * (day - EPOCH).days / 365
    wobble = 1.0 + 0.12 * math.sin(day.toordinal() * 0.9 + zlib.crc32(event.encode()) % 97)
    return max(0, round(base * trend * wobble))


def unique_users(event: str, first: date, last: date, today: date) -> int:
    """People who did ``event`` at least once in ``[first, last]`` (most come back)."""
    daily = [round(event_count(event, day, today) * 0.7) for day in _days(first, last)]
    if not daily:
        return 0
    peak = max(daily)
    return round(peak + (sum(daily) - peak) * 0.3)


def where_share(where: str | None) -> float:
    """The fixed share of events an expression keeps (0.2 to 0.8), 1.0 without one."""
    if not where:
        return 1.0
    return 0.2 + 0.6 * (zlib.crc32(where.encode()) % 1000) / 1000


def _balanced(expression: str) -> bool:
    depth = 0
    quoted = False
    for char in expression:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


class MixpanelSimulator(FakeServer):
    """One project (``project_id``) and one service account; see the module docstring."""

    def __init__(
        self,
        *,
        username: str = DEMO_USERNAME,
        secret: str = DEMO_SECRET,
        project_id: int = DEMO_PROJECT_ID,
        today: Callable[[], date] = _utc_today,
        latency: float = 0.0,
        hourly_limit: int = 60,
        concurrency: int = 5,
        query_seconds: float = 0.0,  # how long each query holds a concurrency slot
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.username, self.secret, self.project_id = username, secret, project_id
        self.today = today
        self.hourly_limit, self.concurrency, self.query_seconds = (
            hourly_limit,
            concurrency,
            query_seconds,
        )
        self.clock = clock
        self._recent: deque[float] = deque()  # admitted queries of the last hour
        self._running = 0
        self._slots = threading.Lock()
        self._halt = threading.Event()
        self.route("GET", r"/api/query/segmentation", self._limited(self._segmentation))
        self.route("GET", r"/api/query/insights", self._limited(self._insights))

    def stop(self) -> None:
        self._halt.set()  # ends query_seconds waits
        super().stop()
        self._halt.clear()

    # -- auth, project and limits -------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True) if scheme == "Basic" else b""
        except (binascii.Error, ValueError):
            given = b""
        expected = f"{self.username}:{self.secret}".encode()
        if given and hmac.compare_digest(given, expected):
            return None
        return _error(
            request, 401, "Unable to authenticate request: invalid service account credentials"
        )

    def _limited(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            project = request.query.get("project_id", "")
            if not project:
                return _error(
                    request,
                    400,
                    "project_id is required when authenticating with a service account",
                )
            if project != str(self.project_id):
                return _error(
                    request, 403, f"service account has no access to project_id {project}"
                )
            refused = self._admit(request)
            if refused is not None:
                return refused
            try:
                if self.query_seconds > 0:
                    self._halt.wait(self.query_seconds)
                return handler(request)
            finally:
                with self._slots:
                    self._running -= 1

        return run

    def _admit(self, request: Request) -> Response | None:
        """Mixpanel's one-sentence 429, both counts including this request (airbyte#7126)."""
        with self._slots:
            now = self.clock()
            while self._recent and now - self._recent[0] >= 3600:
                self._recent.popleft()
            hourly = len(self._recent) >= self.hourly_limit
            if hourly or self._running >= self.concurrency:
                text = (
                    f"Query rate limit exceeded for project_id: {self.project_id}. "
                    f"{self._running + 1}/{self.concurrency} queries running concurrently and "
                    f"{len(self._recent) + 1}/{self.hourly_limit} queries running in the last "
                    f"hour. For more information, please consult our documentation at {LIMITS_DOC}"
                )
                wait = math.ceil(3600 - (now - self._recent[0])) if hourly else 10
                return _error(request, 429, text, {"Retry-After": str(max(1, wait))})
            self._recent.append(now)
            self._running += 1
        return None

    # -- endpoints -------------------------------------------------------------

    def _segmentation(self, request: Request) -> Response:
        query = request.query
        event = query.get("event", "")
        if not event:
            return _error(request, 400, "event is a required parameter")
        bounds = _dates(query)
        if isinstance(bounds, str):
            return _error(request, 400, bounds)
        first, last = bounds
        kind = query.get("type", "general")
        if kind not in _TYPES:
            return _error(
                request, 400, f"type must be one of general, unique, average; got {kind!r}"
            )
        if "on" in query:
            return _error(request, 400, "on: segmenting by a property is not simulated")
        where = query.get("where")
        if where is not None and not _balanced(where):
            return _error(request, 400, f"Failed to parse where expression: {where}")
        buckets = self._buckets(query, kind, first, last)
        if isinstance(buckets, str):
            return _error(request, 400, buckets)
        today, share = self.today(), where_share(where)
        values: dict[str, dict[str, int | float]] = {}
        if event in EVENTS:
            values[event] = {
                start.isoformat(): _bucket_value(event, kind, start, end, today, share)
                for start, end in buckets
            }
        series = [start.isoformat() for start, _ in buckets]
        return Response.json(
            {"data": {"series": series, "values": values}, "legend_size": len(values)}
        )

    def _buckets(
        self, query: dict[str, str], kind: str, first: date, last: date
    ) -> list[tuple[date, date]] | str:
        if "interval" in query:
            if kind == "general":
                return "interval replaces unit only when type is unique or average"
            if not query["interval"].isdigit() or int(query["interval"]) < 1:
                return f"interval must be a positive number of days; got {query['interval']!r}"
            size = int(query["interval"])
            starts = list(_days(first, last))[::size]
            return [(s, min(last, s + timedelta(days=size - 1))) for s in starts]
        unit = query.get("unit", "day")
        if unit not in _UNITS:
            return f"unit must be one of minute, hour, day, month; got {unit!r}"
        if unit != "day":
            return f"unit={unit} is not simulated (only day)"
        return [(day, day) for day in _days(first, last)]

    def _insights(self, request: Request) -> Response:
        text = request.query.get("bookmark_id", "")
        if not text.isdigit():
            return _error(request, 400, "bookmark_id is a required integer parameter")
        bookmark = int(text)
        if bookmark not in REPORTS:
            return _error(request, 404, f"Report {bookmark} not found")
        today = self.today()
        last = today - timedelta(days=1)
        first = last - timedelta(days=27)
        weeks = [(s, s + timedelta(days=6)) for s in list(_days(first, last))[::7]]

        def weekly(event: str, share: float = 1.0) -> dict[str, int | float]:
            return {
                f"{s.isoformat()}T00:00:00+00:00": _bucket_value(
                    event, "general", s, e, today, share
                )
                for s, e in weeks
            }

        headers = ["$event"]
        series: dict[str, Any]
        if bookmark == WEEKLY_SIGNUPS:
            series = {"Signed Up": weekly("Signed Up")}
        elif bookmark == SIGNUPS_AND_PURCHASES:
            series = {"Signed Up": weekly("Signed Up"), "Purchase": weekly("Purchase")}
        elif bookmark == CHECKOUTS_TOTAL:
            total = sum(event_count("Checkout Completed", d, today) for d in _days(first, last))
            series = {"Checkout Completed": {"all": total}}
        else:
            headers = ["$event", "$country_code"]
            series = {"Purchase": {"US": weekly("Purchase", 0.6), "DE": weekly("Purchase", 0.25)}}
        return Response.json(
            {
                "computed_at": f"{today.isoformat()}T06:00:00.000000+00:00",
                "date_range": {
                    "from_date": f"{first.isoformat()}T00:00:00+00:00",
                    "to_date": f"{last.isoformat()}T23:59:59.999000+00:00",
                },
                "headers": headers,
                "series": series,
            }
        )


def _bucket_value(
    event: str, kind: str, first: date, last: date, today: date, share: float
) -> int | float:
    """Counts are integers, as Mixpanel sends them; averages are floats."""
    total = sum(event_count(event, day, today) for day in _days(first, last)) * share
    if kind == "general":
        return round(total)
    people = unique_users(event, first, last, today) * share
    if kind == "unique":
        return round(people)
    return round(total / people, 3) if people else 0.0


def _dates(query: dict[str, str]) -> tuple[date, date] | str:
    bounds: list[date] = []
    for key in ("from_date", "to_date"):
        text = query.get(key, "")
        if not _DAY.fullmatch(text):
            return f"{key} is required, formatted yyyy-mm-dd; got {text!r}"
        try:
            bounds.append(date.fromisoformat(text))
        except ValueError:
            return f"{key} {text!r} is not a valid date"
    if bounds[1] < bounds[0]:
        return f"to_date {bounds[1]} is before from_date {bounds[0]}"
    return bounds[0], bounds[1]


def _error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    asked = f"{request.path}?{urlencode(request.query)}" if request.query else request.path
    return Response.json({"request": asked, "error": message}, status, headers)


__all__ = [
    "CHECKOUTS_TOTAL",
    "DEMO_PROJECT_ID",
    "DEMO_SECRET",
    "DEMO_USERNAME",
    "EVENTS",
    "PURCHASES_BY_COUNTRY",
    "REPORTS",
    "SIGNUPS_AND_PURCHASES",
    "WEEKLY_SIGNUPS",
    "MixpanelSimulator",
    "event_count",
    "unique_users",
    "where_share",
]
