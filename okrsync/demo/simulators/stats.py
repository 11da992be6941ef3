"""The demo's JSON stats API: ``okrsync demo`` and tests measure from it.

Values are a pure function of (metric, from, to, today): each metric moves
from its start toward its target at its own pace over the elapsed part of
``[from, to]``, plus a tiny deterministic daily wobble, so history moves and
some key results are visibly off track, yet every run agrees. ``today`` is
injectable for deterministic tests.
"""

from __future__ import annotations

import hmac
import math
import re
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple

from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span


class Metric(NamedTuple):
    start: float
    target: float
    pace: float  # 1.0 lands on target at the end of the range
    integer: bool = False


METRICS: dict[str, Metric] = {
    "annual_revenue": Metric(12e6, 24e6, 0.95),
    "new_product_sales": Metric(12e6, 15e6, 1.05),
    "support_tickets_month": Metric(120, 30, 0.7, integer=True),
    "checkout_steps": Metric(9, 6, 1.0, integer=True),
    "avg_session_duration_seconds": Metric(157, 225, 0.85),
    "mau_key_accounts": Metric(250_000, 350_000, 0.5, integer=True),  # off track
    "website_pageviews": Metric(300_000, 500_000, 0.9, integer=True),
}
UPTIME = "uptime_percent"  # a maintain KR: steady around 99.7x, not start → target
MILESTONES: dict[str, tuple[str, bool]] = {
    "launch-2.0": ("Launch version 2.0", False),
    "beta-program": ("Run the customer beta program", True),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _utc_today() -> date:
    return datetime.now(UTC).date()


def _wobble(name: str, today: date) -> float:
    """A deterministic value in [-1, 1] that changes daily (crc32: stable across runs)."""
    return math.sin(today.toordinal() * 1.7 + zlib.crc32(name.encode()) % 997)


def metric_value(name: str, start: date, end: date, today: date) -> float:
    """The value of ``name`` over ``[start, end]`` as seen on ``today``."""
    if name == UPTIME:
        return round(99.75 + 0.04 * _wobble(name, today), 3)
    m = METRICS[name]
    elapsed = (today - start).days / ((end - start).days + 1)
    fraction = min(1.0, max(0.0, elapsed))
    span = m.target - m.start
    value = m.start + span * m.pace * fraction + abs(span) * 0.004 * _wobble(name, today)
    if name == "checkout_steps":
        return float(min(9, round(value)))
    return float(round(value)) if m.integer else round(value, 2)


class StatsSimulator(FakeServer):
    """``GET /api/v1/metrics/{name}?from=&to=`` and ``GET /api/v1/milestones/{name}``."""

    def __init__(
        self,
        token: str = "demo-token",  # noqa: S107 - the demo's published token
        *,
        today: Callable[[], date] = _utc_today,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.token = token
        self.today = today
        self.route("GET", r"/api/v1/metrics/(?P<name>[^/]+)", self._metric)
        self.route("GET", r"/api/v1/milestones/(?P<name>[^/]+)", self._milestone)

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return None
        return Response.json({"error": "invalid or missing API token"}, 401)

    def _metric(self, request: Request) -> Response:
        name = request.params["name"]
        if name not in METRICS and name != UPTIME:
            return Response.json({"error": f"unknown metric '{name}'"}, 404)
        bounds: list[date] = []
        for key in ("from", "to"):
            text = request.query.get(key, "")
            if not _DATE.fullmatch(text):
                return Response.json({"error": f"'{key}' must be a date like 2026-10-01"}, 400)
            try:
                bounds.append(date.fromisoformat(text))
            except ValueError:
                return Response.json({"error": f"'{key}' is not a valid date: {text}"}, 400)
        start, end = bounds
        if end < start:
            return Response.json({"error": "'to' is before 'from'"}, 400)
        value = metric_value(name, start, end, self.today())
        data = {"metric": name, "from": str(start), "to": str(end), "data": {"value": value}}
        return Response.json(data)

    def _milestone(self, request: Request) -> Response:
        name = request.params["name"]
        if name not in MILESTONES:
            return Response.json({"error": f"unknown milestone '{name}'"}, 404)
        title, done = MILESTONES[name]
        return Response.json({"milestone": name, "done": done, "title": title})


SERVES = "http"
DEMO_TOKEN = "demo-token"  # noqa: S105 - published, accepted only by the simulator


def demo(_: Span) -> Simulated:
    """The demo's stats API for ``type: http`` connections (STATS_TOKEN)."""
    server = StatsSimulator(token=DEMO_TOKEN).start()
    return Simulated.at(server, {"STATS_TOKEN": DEMO_TOKEN})


__all__ = [
    "DEMO_TOKEN",
    "METRICS",
    "MILESTONES",
    "SERVES",
    "UPTIME",
    "Metric",
    "StatsSimulator",
    "demo",
    "metric_value",
]
