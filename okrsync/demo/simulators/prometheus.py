"""A Prometheus query API for ``okrsync demo`` and the connector's fault tests.

``GET|POST /api/v1/query`` (POST as a form, as Prometheus reads it) with
``query``, optional ``time`` (RFC 3339 or unix seconds) and ``timeout``,
answering Prometheus's documented envelope
(prometheus.io/docs/prometheus/latest/querying/api/): values are strings
formatted as Go does (``"99.75"``, ``"NaN"``), timestamps unix seconds. It
evaluates no PromQL: it answers a fixed set of expressions (:data:`EXPRESSIONS`,
compared without whitespace), and any other is refused with Prometheus's
``bad_data`` 400, never a made-up number. Auth is what a real server offers
(basic auth from its web config) or what a proxy in front of it does (a
bearer token); a refusal is Prometheus's plain-text 401 ``Unauthorized``.

Values are functions of the evaluation day, so ``time`` (backfill) moves them:
uptime from :func:`okrsync.demo.simulators.stats.metric_value`, the p95 latency
falling through each quarter toward 250 ms.
"""

from __future__ import annotations

import base64
import hmac
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span
from okrsync.demo.simulators.stats import UPTIME, metric_value

DEMO_USERNAME = "okrsync"
DEMO_PASSWORD = "prom-demo-pw-5e1b"  # noqa: S105 - published, accepted only by the simulator
DEMO_ENVIRON = {"PROMETHEUS_PASSWORD": DEMO_PASSWORD}
API_PATH = "/api/v1/query"

UPTIME_QUERY = 'avg_over_time(probe_success{job="website"}[30d]) * 100'
LATENCY_QUERY = (
    "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5m])) by (le))"
)
LATENCY_MS_QUERY = f"{LATENCY_QUERY} * 1000"  # the same in milliseconds, for display
PROBES_QUERY = "probe_success"  # two series: what "aggregate them" errors look like
TIME_QUERY = "time()"  # a scalar: the evaluation time itself

_WEBSITE = {"instance": "https://www.example.com", "job": "website"}
_API = {"instance": "https://api.example.com", "job": "api"}
_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)",
)
_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")

Result = tuple[str, Any]  # (resultType, result)


def _uptime(at: datetime) -> Result:
    day = at.date()
    value = metric_value(UPTIME, day - timedelta(days=30), day, day)
    return "vector", [{"metric": dict(_WEBSITE), "value": _sample(at, value)}]


def p95_latency_seconds(day: date) -> float:
    """Falls from ~0.45 s toward ~0.28 s through each quarter, with a small daily wobble."""
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    fraction = min(1.0, (day - first).days / 91)
    return round(0.45 - 0.17 * fraction + 0.012 * math.sin(day.toordinal() * 2.3), 4)


def _latency(at: datetime) -> Result:
    return "vector", [{"metric": {}, "value": _sample(at, p95_latency_seconds(at.date()))}]


def _latency_ms(at: datetime) -> Result:
    return "vector", [{"metric": {}, "value": _sample(at, p95_latency_seconds(at.date()) * 1000)}]


def _probes(at: datetime) -> Result:
    series = [{"__name__": "probe_success", **labels} for labels in (_API, _WEBSITE)]
    return "vector", [{"metric": labels, "value": _sample(at, 1.0)} for labels in series]


def _time(at: datetime) -> Result:
    return "scalar", _sample(at, at.timestamp())


EXPRESSIONS: dict[str, Callable[[datetime], Result]] = {
    UPTIME_QUERY: _uptime,
    LATENCY_QUERY: _latency,
    LATENCY_MS_QUERY: _latency_ms,
    PROBES_QUERY: _probes,
    TIME_QUERY: _time,
}
_BY_SHAPE = {"".join(text.split()): answer for text, answer in EXPRESSIONS.items()}


def go_float(value: float) -> str:
    """A float as Prometheus writes sample values (Go ``FormatFloat(v, 'f', -1, 64)``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(Decimal(repr(value)).normalize(), "f")


def _sample(at: datetime, value: float) -> list[Any]:
    millis = round(at.timestamp() * 1000)
    stamp: float = millis // 1000 if millis % 1000 == 0 else millis / 1000
    return [stamp, go_float(value)]


def _bad_data(message: str) -> Response:
    return Response.json({"status": "error", "errorType": "bad_data", "error": message}, 400)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # Python reads microseconds; Go reads nanoseconds
    try:
        return datetime.fromisoformat(whole + fraction + zone.upper()).astimezone(UTC)
    except ValueError:
        return None


def _valid_duration(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return bool(text) and _DURATION.fullmatch(text) is not None


def _utc_today() -> date:
    return datetime.now(UTC).date()


class PrometheusSimulator(FakeServer):
    """Basic auth by default; ``token`` for a bearer proxy; both None: an open server."""

    def __init__(
        self,
        *,
        username: str | None = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        token: str | None = None,
        today: Callable[[], date] = _utc_today,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.username, self.password, self.token = username, password, token
        self.today = today
        for method in ("GET", "POST"):
            self.route(method, API_PATH, self._query)
        for method in ("PUT", "PATCH", "DELETE"):
            self.route(method, API_PATH, lambda _r: _not_allowed())

    def authorize(self, request: Request) -> Response | None:
        if self.token is not None:
            expected = f"Bearer {self.token}"
        elif self.username is not None:
            pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            expected = f"Basic {pair}"
        else:
            return None
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        head = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
        if self.token is None:
            head["WWW-Authenticate"] = "Basic"
        return Response(401, b"Unauthorized\n", head)

    def now(self) -> datetime:
        """The evaluation time when ``time`` is absent: now, moved to ``today()`` if injected."""
        now = datetime.now(UTC).replace(microsecond=0)
        today = self.today()
        return now if now.date() == today else datetime(*today.timetuple()[:3], 12, tzinfo=UTC)

    def _query(self, request: Request) -> Response:
        params = dict(request.query)
        form = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method == "POST" and form == "application/x-www-form-urlencoded":
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        query = params.get("query", "")
        if not query.strip():
            return _bad_data(
                'invalid parameter "query": 1:1: parse error: no expression found in input'
            )
        at = self.now()
        if "time" in params:
            parsed = _parse_time(params["time"])
            if parsed is None:
                text = params["time"]
                return _bad_data(
                    f"invalid parameter \"time\": Invalid time value for 'time': cannot parse "
                    f'"{text}" to a valid timestamp'
                )
            at = parsed
        if "timeout" in params and not _valid_duration(params["timeout"]):
            text = params["timeout"]
            return _bad_data(
                f'invalid parameter "timeout": cannot parse "{text}" to a valid duration'
            )
        answer = _BY_SHAPE.get("".join(query.split()))
        if answer is None:
            return _bad_data(
                'invalid parameter "query": okrsync\'s Prometheus simulator does not know this '
                "expression (it answers only okrsync.demo.simulators.prometheus.EXPRESSIONS)"
            )
        kind, result = answer(at)
        return Response.json({"status": "success", "data": {"resultType": kind, "result": result}})


def _not_allowed() -> Response:
    head = {"Allow": "GET, OPTIONS, POST", "Content-Type": "text/plain; charset=utf-8"}
    return Response(405, b"Method Not Allowed\n", head)


def start_demo(*, today: Callable[[], date] = _utc_today) -> PrometheusSimulator:
    """A started simulator for ``okrsync demo``: basic auth DEMO_USERNAME / DEMO_PASSWORD."""
    return PrometheusSimulator(today=today).start()


SERVES = "prometheus"


def demo(_: Span) -> Simulated:
    """The demo's Prometheus behind basic auth (PROMETHEUS_PASSWORD)."""
    server = start_demo()
    return Simulated.at(server, dict(DEMO_ENVIRON), username=DEMO_USERNAME)


__all__ = [
    "API_PATH",
    "DEMO_ENVIRON",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "EXPRESSIONS",
    "LATENCY_MS_QUERY",
    "LATENCY_QUERY",
    "PROBES_QUERY",
    "SERVES",
    "TIME_QUERY",
    "UPTIME_QUERY",
    "PrometheusSimulator",
    "demo",
    "go_float",
    "p95_latency_seconds",
    "start_demo",
]
