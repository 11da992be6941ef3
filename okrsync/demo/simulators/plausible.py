"""A Plausible Analytics instance on 127.0.0.1: Stats API v2 and the legacy v1 aggregate.

- ``POST /api/v2/query`` with ``{"site_id", "metrics", "date_range", "filters",
  "dimensions", "order_by", "include", "pagination"}`` → ``{"results": [{"metrics":
  […], "dimensions": []}], "meta": {}, "query": {…}}``; ``v2 = False`` removes the
  route (404), as on Community Edition releases without v2;
- ``GET /api/v1/stats/aggregate?site_id=&period=&date=&metrics=&filters=`` →
  ``{"results": {"<metric>": {"value": n}}}``;
- errors ``{"error": msg}`` with Plausible's own messages: 401 missing/invalid key
  or unknown site, 400 missing site ID and query errors (``#/metrics/0: Invalid
  metric "foo"``, ``#/date_range: Invalid date range …``, ``#/filters/0: Invalid
  filter …``, v1's period/date/metric texts), 402 when the plan lacks the Stats API
  (``stats_api = False``), 429 "Too many API requests. Your API key is limited to N
  requests per hour…" (no Retry-After), checked in the order of Plausible's
  ``AuthorizePublicAPI`` plug.

Numbers are deterministic (:mod:`okrsync.demo.simulators._plausible_data`).
Aggregates only: dimensions and metrics beyond the seven classic ones are answered
with a 400 saying the simulator does not support them, never with a made-up number.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from okrsync.demo.simulators._plausible_data import filter_share, metric_values
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span

DEMO_SITE_ID = "example.com"
DEMO_API_KEY = "plausible-demo-key-okrsync-0000000000000000"
GOALS = ("Signup", "Visit /pricing")
SIMULATED = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "events",
)
V2_METRICS = (
    *SIMULATED,
    "scroll_depth",
    "percentage",
    "conversion_rate",
    "group_conversion_rate",
    "time_on_page",
    "exit_rate",
    "total_revenue",
    "average_revenue",
)
V2_KEYS = (
    "site_id",
    "metrics",
    "date_range",
    "filters",
    "dimensions",
    "order_by",
    "include",
    "pagination",
)
OPERATORS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
EVENT_DIMS = ("event:page", "event:name", "event:goal", "event:hostname")
VISIT_DIMS = {"source", "channel", "referrer", "device", "browser", "browser_version", "os"}
VISIT_DIMS |= {"os_version", "country", "region", "city", "country_name", "region_name"}
VISIT_DIMS |= {"city_name", "entry_page", "exit_page", "entry_page_hostname"}
VISIT_DIMS |= {"exit_page_hostname", "utm_medium", "utm_source", "utm_campaign"}
VISIT_DIMS |= {"utm_content", "utm_term"}
EVENT_ONLY = ("event:name", "event:goal", "event:props:")
SESSION_METRICS = ("visits", "bounce_rate", "visit_duration", "views_per_visit")
V1_PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "custom")
DOCS = "https://plausible.io/docs/stats-api"


def _utc_today() -> date:
    return datetime.now(UTC).date()


class QueryProblem(Exception):
    """A 400 ``{"error": message}``."""


def _error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status)


class PlausibleSimulator(FakeServer):
    """Sites ``DEMO_SITE_ID`` (+ ``sites``), key ``DEMO_API_KEY``, goals ``GOALS``."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        sites: tuple[str, ...] = (DEMO_SITE_ID,),
        today: Callable[[], date] = _utc_today,
        hourly_limit: int = 600,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.api_key, self.sites, self.today = api_key, sites, today
        self.hourly_limit = hourly_limit
        self.v2 = True  # False: /api/v2/query is 404, like an older Community Edition
        self.stats_api = True  # False: 402, the plan has no Stats API
        self._calls: list[float] = []
        self._lock = threading.Lock()
        self.route("POST", r"/api/v2/query", self._v2)
        self.route("GET", r"/api/v1/stats/aggregate", self._v1)

    def _authorize(self, request: Request, site: Any) -> Response | None:
        """``AuthorizePublicAPI``: key, hourly limit, site, plan, in that order."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return _error(
                401, "Missing API key. Please use a valid Plausible API key as a Bearer Token."
            )
        invalid = (
            "Invalid API key or site ID. Please make sure you're using a valid API key "
            "with access to the site you've requested."
        )
        if not hmac.compare_digest(header[7:].strip().encode(), self.api_key.encode()):
            return _error(401, invalid)
        now = time.monotonic()
        with self._lock:
            self._calls = [t for t in self._calls if now - t < 3600] + [now]
            spent = len(self._calls) > self.hourly_limit
        if spent:
            return _error(
                429,
                f"Too many API requests. Your API key is limited to {self.hourly_limit} "
                "requests per hour. Please contact us to request more capacity.",
            )
        if site is None:
            return _error(
                400,
                "Missing site ID. Please provide the required site_id parameter with your request.",
            )
        if site not in self.sites:
            return _error(401, invalid)
        if not self.stats_api:
            return _error(
                402,
                "The account that owns this API key does not have access to Stats API. Please "
                "make sure you're using the API key of a subscriber account and that the "
                "subscription plan includes Stats API",
            )
        return None

    def _v2(self, request: Request) -> Response:
        if not self.v2:
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        try:
            body = request.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if (refused := self._authorize(request, body.get("site_id"))) is not None:
            return refused
        try:
            metrics, first, last, filters = self._parse_v2(body)
        except QueryProblem as exc:
            return _error(400, str(exc))
        values = metric_values(metrics, filters, first, last, self.today())
        query = {
            "site_id": body["site_id"],
            "metrics": metrics,
            "date_range": [f"{first}T00:00:00+00:00", f"{last}T23:59:59+00:00"],
            "filters": body.get("filters", []),
            "dimensions": [],
            "order_by": [[metrics[0], "desc"]],
            "include": body.get("include", {}),
            "pagination": {"limit": 10000, "offset": 0},
        }
        results = [{"metrics": [values[m] for m in metrics], "dimensions": []}]
        return Response.json({"results": results, "meta": {}, "query": query})

    def _parse_v2(self, body: dict[str, Any]) -> tuple[list[str], date, date, list[list[Any]]]:
        for key in body:
            if key not in V2_KEYS:
                raise QueryProblem(f"#/{key}: Schema does not allow additional properties.")
        for key in ("metrics", "date_range"):
            if key not in body:
                raise QueryProblem(f"#: Required property {key} was not present.")
        metrics = body["metrics"]
        if not isinstance(metrics, list) or not metrics:
            raise QueryProblem("#/metrics: Expected a minimum of 1 items but got 0.")
        for i, metric in enumerate(metrics):
            if metric not in V2_METRICS:
                raise QueryProblem(f"#/metrics/{i}: Invalid metric {json.dumps(metric)}")
        if len(set(metrics)) != len(metrics):
            raise QueryProblem("#/metrics: Expected items to be unique but they were not.")
        first, last = self._v2_range(body["date_range"])
        filters = body.get("filters", [])
        if not isinstance(filters, list):
            raise QueryProblem(
                f"#/filters: Type mismatch. Expected Array but got {type(filters).__name__}."
            )
        for i, item in enumerate(filters):
            if not _valid_filter(item):
                raise QueryProblem(f"#/filters/{i}: Invalid filter {json.dumps(item)}")
        self._check_goals(filters)
        if body.get("dimensions"):
            raise QueryProblem("dimensions are not supported by the okrsync Plausible simulator")
        _simulated(metrics)
        return metrics, first, last, filters

    def _v2_range(self, spec: Any) -> tuple[date, date]:
        problem = QueryProblem(f"#/date_range: Invalid date range {json.dumps(spec)}")
        if isinstance(spec, str):
            span = _shortcut(spec, self.today())
            if span is None:
                raise problem
            return span
        if (
            not isinstance(spec, list)
            or len(spec) != 2
            or not all(isinstance(s, str) for s in spec)
        ):
            raise problem
        try:
            first, last = (datetime.fromisoformat(s).date() for s in spec)
        except ValueError:
            raise problem from None
        if last < first:
            raise problem
        return first, last

    def _check_goals(self, filters: list[Any]) -> None:
        for item in filters:
            if item[0] in OPERATORS and item[1] == "event:goal":
                for goal in item[2]:
                    if goal not in GOALS:
                        raise QueryProblem(
                            f"The goal `{goal}` is not configured for this site. Find out how to "
                            f"configure goals here: {DOCS}#filtering-by-goals"
                        )

    def _v1(self, request: Request) -> Response:
        params = request.query
        if (refused := self._authorize(request, params.get("site_id"))) is not None:
            return refused
        try:
            first, last = self._v1_range(params)
            filters = _v1_filters(params.get("filters", ""))
            self._check_goals(filters)
            metrics = params.get("metrics", "visitors").split(",")
            _v1_metrics(metrics, filters)
        except QueryProblem as exc:
            return _error(400, str(exc))
        values = metric_values(metrics, filters, first, last, self.today())
        return Response.json({"results": {m: {"value": values[m]} for m in metrics}})

    def _v1_range(self, params: dict[str, str]) -> tuple[date, date]:
        period = params.get("period", "30d")
        if period not in V1_PERIODS:
            raise QueryProblem(
                f"Error parsing `period` parameter: invalid period `{period}`. Please find "
                f"accepted values in our docs: {DOCS}#time-periods"
            )
        if period == "custom":
            if "date" not in params:
                raise QueryProblem(
                    "The `date` parameter is required when using a custom period. See "
                    f"{DOCS}#time-periods"
                )
            try:
                first, last = (date.fromisoformat(d.strip()) for d in params["date"].split(","))
            except ValueError:
                raise QueryProblem(
                    "Invalid format for `date` parameter. When using a custom period, please "
                    "include two ISO-8601 formatted dates joined by a comma. See "
                    f"{DOCS}#time-periods"
                ) from None
            return first, last
        anchor = self.today()
        if "date" in params:
            try:
                anchor = date.fromisoformat(params["date"])
            except ValueError as exc:
                raise QueryProblem(
                    f"Error parsing `date` parameter: {exc}. Please specify a valid date in "
                    "ISO-8601 format."
                ) from None
        span = _shortcut(period, anchor)
        assert span is not None  # every v1 period but custom is a v2 shortcut
        return span


def _valid_filter(item: Any) -> bool:
    if not isinstance(item, list) or not item:
        return False
    op = item[0]
    if op in ("and", "or"):
        return len(item) == 2 and isinstance(item[1], list) and all(map(_valid_filter, item[1]))
    if op == "not":
        return len(item) == 2 and _valid_filter(item[1])
    if op not in OPERATORS or len(item) not in (3, 4) or not isinstance(item[1], str):
        return False
    dim, clauses = item[1], item[2]
    known = dim in EVENT_DIMS or (dim.startswith("event:props:") and len(dim) > 12)
    known = known or (dim.startswith("visit:") and dim[6:] in VISIT_DIMS)
    values_ok = isinstance(clauses, list) and bool(clauses)
    values_ok = values_ok and all(
        isinstance(c, str | int) and not isinstance(c, bool) for c in clauses
    )
    return known and values_ok and (len(item) == 3 or isinstance(item[3], dict))


def _simulated(metrics: list[str]) -> None:
    for metric in metrics:
        if metric not in SIMULATED:
            raise QueryProblem(
                f"metric `{metric}` is not supported by the okrsync Plausible simulator"
            )


def _shortcut(name: str, today: date) -> tuple[date, date] | None:
    days = {"day": 1, "24h": 1, "7d": 7, "28d": 28, "30d": 30, "91d": 91}
    if name in days:
        return today - timedelta(days=days[name] - 1), today
    if name == "month":
        return today.replace(day=1), today
    if name in ("6mo", "12mo"):
        months = 6 if name == "6mo" else 12
        year, month = divmod(today.year * 12 + today.month - 1 - (months - 1), 12)
        return date(year, month + 1, 1), today
    if name == "year":
        return today.replace(month=1, day=1), today
    if name == "all":
        return date(2024, 1, 1), today
    return None


def _v1_filters(text: str) -> list[list[Any]]:
    """``event:page==/a|/b;visit:source!=x`` as v2 filter arrays."""
    filters: list[list[Any]] = []
    for part in filter(None, text.split(";")):
        op = "==" if "==" in part else "!=" if "!=" in part else None
        if op is None:
            raise QueryProblem(f"Invalid filter expression: {part}")
        dim, value = part.split(op, 1)
        item = ["is" if op == "==" else "is_not", dim, value.split("|")]
        if not _valid_filter(item):
            raise QueryProblem(
                f"Invalid filter property '{dim}'. Please provide a valid filter property: "
                f"{DOCS}#properties"
            )
        filters.append(item)
    return filters


def _v1_metrics(metrics: list[str], filters: list[list[Any]]) -> None:
    """The checks of v1's ``validate_metric``, in its order."""
    if len(set(metrics)) != len(metrics):
        raise QueryProblem("Metrics cannot be queried multiple times.")
    event_only = next((f[1] for f in filters if f[1].startswith(EVENT_ONLY)), None)
    for metric in metrics:
        if metric == "views_per_visit" and any(f[1] == "event:page" for f in filters):
            raise QueryProblem(
                f"Metric `{metric}` cannot be queried with a filter on `event:page`."
            )
        if metric in SESSION_METRICS and event_only:
            raise QueryProblem(
                f"Session metric `{metric}` cannot be queried when using a filter on `{event_only}`."
            )
        if metric not in SIMULATED and metric not in ("time_on_page", "conversion_rate"):
            raise QueryProblem(
                f"The metric `{metric}` is not recognized. Find valid metrics from the "
                f"documentation: {DOCS}#metrics"
            )
    _simulated(metrics)


def start_demo() -> PlausibleSimulator:
    """A started simulator for ``okrsync demo`` (``DEMO_API_KEY``, site ``DEMO_SITE_ID``)."""
    return PlausibleSimulator().start()


SERVES = "plausible"


def demo(_: Span) -> Simulated:
    """The demo's Plausible: ``DEMO_API_KEY`` (PLAUSIBLE_API_KEY), site ``DEMO_SITE_ID``."""
    server = start_demo()
    return Simulated.at(server, {"PLAUSIBLE_API_KEY": DEMO_API_KEY}, site_id=DEMO_SITE_ID)


__all__ = [
    "DEMO_API_KEY",
    "DEMO_SITE_ID",
    "GOALS",
    "SERVES",
    "PlausibleSimulator",
    "demo",
    "filter_share",
    "metric_values",
    "start_demo",
]
