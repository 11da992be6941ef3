"""Quantive Results (formerly Gtmhub) on 127.0.0.1: ``POST …/metrics/{id}/checkin``.

Served under both the current base ``/results/api/v1`` and the legacy ``/api/v1``, as
Quantive's CLI (github.com/gtmhub/gtmhub-cli) posts it: ``Authorization: Bearer
<token>``, ``gtmhub-accountid: <account id>`` and ``{"actual", "checkInDate",
"comment", "confidence"?, "customFields"?}``. Metrics (key results) have 24-hex
ObjectId ids.

Checked in this order, each a JSON error: the token (401), the account header
(400 when missing, 403 when it is not the token's account), the rate limit (429 with
``Retry-After`` in whole seconds, when ``rate_limit`` is set), the metric id (400 when
not an ObjectId, 404 when unknown), the user's right to check it in (403), the body
(400: not an object, ``actual`` not a number, ``checkInDate`` not an ISO date,
``comment`` not a string). Success answers the updated metric ``{id, name, actual,
target, lastCheckInDate}`` (the fields model/metric.go reads).

**Assumed**, since Quantive documents neither: the answer's body, the error body
``{"statusCode", "error", "message"}`` and the texts, the 429 and its ``Retry-After``.

``received`` lists every accepted check-in; :meth:`QuantiveSimulator.actual` reads a
metric's value back.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_TOKEN = "qtv-okrsync-demo-0000000000000000000000000000"  # noqa: S105 - published, accepted only here
DEMO_ACCOUNT_ID = "5dd52936b1d01a0001ecb1b5"
DEMO_METRIC_ID = "5e8c27e3dcdddaa4addbdee8"
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
}


@dataclass
class Metric:
    """A key result: its value and whether the token's user may check it in."""

    id: str
    name: str
    actual: float = 0.0
    target: float = 100.0
    last_check_in_date: str | None = None
    editable: bool = True


@dataclass(frozen=True)
class Received:
    """One accepted check-in, as sent."""

    metric_id: str
    actual: float
    check_in_date: str | None
    comment: str | None
    account_id: str
    keys: tuple[str, ...]  # the body's fields, to see what was (not) sent
    time: float = field(default_factory=time.monotonic)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {"statusCode": status, "error": _REASONS.get(status, "Error"), "message": message}
    return Response.json(body, status, headers)


class QuantiveSimulator(FakeServer):
    """One account (``account_id``) and its API token; ``DEMO_METRIC_ID`` exists."""

    def __init__(
        self,
        *,
        token: str = DEMO_TOKEN,
        account_id: str = DEMO_ACCOUNT_ID,
        rate_limit: float | None = None,
        burst: int = 2,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.token, self.account_id = token, account_id
        self.rate_limit, self.burst, self.clock = rate_limit, burst, clock
        self.metrics: dict[str, Metric] = {}
        self.received: list[Received] = []
        self._tokens = float(burst)
        self._refilled = clock()
        self._state = threading.Lock()
        self.add_metric(DEMO_METRIC_ID, "Grow qualified pipeline to 120 opportunities", 120)
        pattern = r"(?:/results)?/api/v1/metrics/(?P<id>[^/]+)/checkin"
        self.route("POST", pattern, self._checkin)

    def add_metric(
        self,
        metric_id: str,
        name: str = "A key result",
        target: float = 100,
        *,
        editable: bool = True,
    ) -> Metric:
        metric = Metric(metric_id, name, target=target, editable=editable)
        self.metrics[metric_id] = metric
        return metric

    def actual(self, metric_id: str) -> float:
        return self.metrics[metric_id].actual

    # -- checks --------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(
            given.removeprefix("Bearer ").encode(), self.token.encode()
        ):
            return _error(401, "invalid or expired token")
        account = request.headers.get("gtmhub-accountid")
        if not account:
            return _error(400, "gtmhub-accountid header is required")
        if account != self.account_id:
            return _error(403, f"the token does not grant access to account {account}")
        return self._throttle()

    def _throttle(self) -> Response | None:
        if self.rate_limit is None:
            return None
        with self._state:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_limit)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            wait = max(1, math.ceil((1 - self._tokens) / self.rate_limit))
        return _error(429, "rate limit exceeded", {"Retry-After": str(wait)})

    # -- POST /metrics/{id}/checkin ------------------------------------------

    def _checkin(self, request: Request) -> Response:
        metric_id = request.params["id"]
        if not _OBJECT_ID.fullmatch(metric_id):
            return _error(400, f"invalid id: {metric_id}")
        metric = self.metrics.get(metric_id)
        if metric is None:
            return _error(404, f"metric with id {metric_id} not found")
        if not metric.editable:
            return _error(403, "you do not have permission to check in this key result")
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(data, dict):
            return _error(400, "request body must be a JSON object")
        actual = data.get("actual")
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return _error(400, f"actual must be a number, got {json.dumps(actual)[:40]}")
        date = data.get("checkInDate")
        if date is not None and (not isinstance(date, str) or not _iso(date)):
            return _error(400, f"checkInDate is not a valid date: {json.dumps(date)[:40]}")
        comment = data.get("comment")
        if comment is not None and not isinstance(comment, str):
            return _error(400, "comment must be a string")
        with self._state:
            metric.actual = float(actual)
            metric.last_check_in_date = date or datetime.now(UTC).isoformat()
            self.received.append(
                Received(
                    metric_id,
                    float(actual),
                    date,
                    comment,
                    request.headers.get("gtmhub-accountid", ""),
                    tuple(data),
                )
            )
        return Response.json(
            {
                "id": metric.id,
                "name": metric.name,
                "actual": metric.actual,
                "target": metric.target,
                "lastCheckInDate": metric.last_check_in_date,
            }
        )


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


__all__ = [
    "DEMO_ACCOUNT_ID",
    "DEMO_METRIC_ID",
    "DEMO_TOKEN",
    "Metric",
    "QuantiveSimulator",
    "Received",
]
