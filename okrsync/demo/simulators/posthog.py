"""A PostHog project on 127.0.0.1 answering the query API the way PostHog does.

- ``POST /api/projects/{project_id}/query/`` (trailing slash optional, as PostHog's
  router allows) with ``{"query": {"kind": "HogQLQuery", "query", "values"}, "name",
  "refresh", "client_query_id", …}`` → ``{"columns", "types", "results", "hasMore",
  "limit", "offset", "hogql", "is_cached", "last_refresh", "timezone", …}``;
- with ``pending_polls`` > 0 the POST answers 202 ``{"query_status": {"complete":
  false, "id", …}}`` and ``GET …/query/{id}/`` answers 202 until that many polls are
  spent, then 200 with ``query_status.results``;
- errors in drf-exceptions-hog's ``{"type", "code", "detail", "attr"}``: 400
  ``validation_error`` (``hogql_syntax_error`` / ``hogql_query_error``), 401
  ``authentication_failed`` / ``not_authenticated``, 403 ``permission_denied`` for a
  key without ``query:read``, 404 ``not_found`` for another project, 429
  ``throttled_error`` "Request was throttled. Expected available in N seconds."
  (burst per minute and sustained per hour, per project; no Retry-After header, as
  drf-exceptions-hog builds its Response without DRF's headers).

HogQL is evaluated by :mod:`okrsync.demo.simulators._posthog_hogql` over seeded,
deterministic events from ``since`` to ``today`` (``$pageview``, ``signed_up``,
``purchase`` with ``properties.amount``, ``$autocapture``), project time zone UTC.
"""

from __future__ import annotations

import bisect
import hmac
import json
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from functools import lru_cache
from typing import Any

from okrsync.demo.simulators._posthog_hogql import Event, HogQLError, run
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span

DEMO_PROJECT_ID = 12345
DEMO_API_KEY = "phx_okrsyncDemoPersonalApiKey0000000000000000"
SCOPED_OUT_KEY = "phx_okrsyncDemoKeyWithoutQueryRead00000000000"
PAGES = ("/", "/pricing", "/docs", "/blog", "/signup")
REFRESH = ("blocking", "force_blocking", "async", "force_async", "lazy_async", "force_cache")
_QUERY = r"/api/projects/(?P<project>[^/]+)/query/?"
_PERSON_NS = uuid.UUID("0190b6c4-7a2e-7c1d-9f00-0000000000a1")


def _utc_today() -> date:
    return datetime.now(UTC).date()


@lru_cache(maxsize=8)
def seed_events(since: date, until: date, seed: int = 2026) -> tuple[Event, ...]:
    """Deterministic events, day by day (each day's draw depends on that day only)."""
    events: list[Event] = []
    persons: list[str] = []
    day = since
    while day <= until:
        rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - demo data
        growth = 1 + (day - since).days / 730
        pool = int(150 * growth)
        persons += [str(uuid.uuid5(_PERSON_NS, str(k))) for k in range(len(persons), pool)]
        plan = [("$pageview", rng.randint(5, 10) * growth), ("$autocapture", rng.randint(1, 4))]
        plan += [("signed_up", rng.randint(0, 4)), ("purchase", rng.randint(0, 3))]
        for name, count in plan:
            for _ in range(int(count)):
                person = rng.randrange(pool)
                at = datetime.combine(day, day_time(), UTC) + timedelta(
                    seconds=rng.randrange(86400)
                )
                props: dict[str, Any] = {"$current_url": f"https://example.com{rng.choice(PAGES)}"}
                if name == "purchase":
                    props = {
                        "amount": round(rng.uniform(20, 200), 2),
                        "plan": rng.choice(["pro", "team"]),
                    }
                events.append(
                    Event(
                        name,
                        at,
                        f"user-{person:04d}",
                        persons[person],
                        props,
                    )
                )
        day += timedelta(days=1)
    return tuple(sorted(events, key=lambda e: e.timestamp))


def _error(status: int, kind: str, code: str, detail: str, attr: str | None = None) -> Response:
    return Response.json({"type": kind, "code": code, "detail": detail, "attr": attr}, status)


class PostHogSimulator(FakeServer):
    """One project (``DEMO_PROJECT_ID``) and its personal API keys (``DEMO_API_KEY``)."""

    def __init__(
        self,
        *,
        project_id: int = DEMO_PROJECT_ID,
        api_key: str = DEMO_API_KEY,
        today: Callable[[], date] = _utc_today,
        since: date = date(2025, 1, 1),
        burst_limit: int = 240,
        sustained_limit: int = 2400,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.project_id, self.today, self.since = project_id, today, since
        self.keys = {api_key: ("query:read",), SCOPED_OUT_KEY: ("insight:read",)}
        self.limits = ((burst_limit, 60.0), (sustained_limit, 3600.0))
        self.pending_polls = 0  # > 0: answer 202 and make clients poll that many times
        self._hits: deque[float] = deque()
        self._pending: dict[str, tuple[int, dict[str, Any]]] = {}

        self._state = threading.Lock()
        self.route("POST", _QUERY, self._query)
        self.route("GET", _QUERY + r"(?P<qid>[0-9a-f]+)/?", self._status)

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if not given:
            detail = "Authentication credentials were not provided."
            return _error(401, "authentication_error", "not_authenticated", detail)
        scheme, _, key = given.partition(" ")
        scopes = next(
            (s for k, s in self.keys.items() if hmac.compare_digest(key.encode(), k.encode())), None
        )
        if scheme.lower() != "bearer" or scopes is None:
            detail = "Personal API key found in request Authorization header is invalid."
            return _error(401, "authentication_error", "authentication_failed", detail)
        if "query:read" not in scopes:
            detail = "API key missing required scope 'query:read'"
            return _error(403, "authentication_error", "permission_denied", detail)
        return None

    def _other_project(self, request: Request) -> Response | None:
        if request.params["project"] in (str(self.project_id), "@current"):
            return None
        return _error(404, "invalid_request", "not_found", "Not found.")

    def now(self) -> datetime:
        return datetime.combine(self.today(), day_time(12), UTC)

    def events(self) -> tuple[Event, ...]:
        """Every event up to now (noon UTC of ``today``): nothing from the future."""
        events = seed_events(self.since, self.today())
        return events[: bisect.bisect_right(events, self.now(), key=lambda e: e.timestamp)]

    def _throttled(self) -> Response | None:
        now = time.monotonic()
        with self._state:
            for limit, window in self.limits:
                recent = [t for t in self._hits if now - t < window]
                if len(recent) >= limit:
                    wait = math.ceil(window - (now - recent[0]))
                    detail = f"Request was throttled. Expected available in {wait} seconds."
                    return _error(429, "throttled_error", "throttled", detail)
            self._hits.append(now)
            while self._hits and now - self._hits[0] >= max(w for _, w in self.limits):
                self._hits.popleft()
        return None

    def _query(self, request: Request) -> Response:
        if (refused := self._other_project(request) or self._throttled()) is not None:
            return refused
        try:
            body = request.json()
        except ValueError:
            return _error(400, "invalid_request", "parse_error", "JSON parse error")
        problem = _check_request(body)
        if problem is not None:
            return problem
        query = body["query"]
        try:
            answer = self._run(query["query"], query.get("values"))
        except HogQLError as exc:
            return _error(400, "validation_error", exc.code, str(exc))
        if self.pending_polls > 0 or body.get("refresh") in ("async", "force_async"):
            qid = uuid.uuid4().hex
            with self._state:
                self._pending[qid] = (max(1, self.pending_polls), answer)
            return Response.json({"query_status": self._status_of(qid, False)}, 202)
        return Response.json(answer)

    def _run(self, hogql: str, values: Any) -> dict[str, Any]:
        now = self.now()
        answer = run(hogql, values, self.events(), now)
        return {
            "cache_key": "cache_" + uuid.uuid5(_PERSON_NS, hogql + json.dumps(values)).hex,
            "is_cached": False,
            "last_refresh": now.isoformat().replace("+00:00", "Z"),
            "timezone": "UTC",
            "columns": answer.columns,
            "types": answer.types,
            "results": answer.results,
            "hasMore": answer.has_more,
            "limit": answer.limit,
            "offset": 0,
            "hogql": hogql,
            "query": hogql,
            "error": None,
            "modifiers": {},
            "timings": [],
        }

    def _status_of(self, qid: str, complete: bool, results: Any = None) -> dict[str, Any]:
        return {
            "id": qid,
            "team_id": self.project_id,
            "query_async": True,
            "complete": complete,
            "error": False,
            "error_message": None,
            "results": results,
            "start_time": datetime.now(UTC).isoformat(),
            "end_time": datetime.now(UTC).isoformat() if complete else None,
        }

    def _status(self, request: Request) -> Response:
        qid = request.params["qid"]
        if (refused := self._other_project(request)) is not None:
            return refused
        with self._state:
            if qid not in self._pending:
                return _error(404, "invalid_request", "not_found", "Not found.")
            polls, answer = self._pending[qid]
            self._pending[qid] = (polls - 1, answer)
        if polls > 1:
            return Response.json({"query_status": self._status_of(qid, False)}, 202)
        return Response.json({"query_status": self._status_of(qid, True, answer)})


def _check_request(body: Any) -> Response | None:
    """QueryRequest's validation: an object whose ``query`` is a HogQLQuery."""
    if not isinstance(body, dict) or not isinstance(query := body.get("query"), dict):
        return _error(400, "validation_error", "required", "This field is required.", "query")
    extra = set(body) - {
        "query",
        "name",
        "refresh",
        "client_query_id",
        "async",
        "filters_override",
        "variables_override",
    }
    if extra:
        return _error(
            400,
            "validation_error",
            "extra_forbidden",
            "Extra inputs are not permitted",
            sorted(extra)[0],
        )
    if body.get("refresh", "blocking") not in REFRESH:
        return _error(
            400,
            "validation_error",
            "invalid_input",
            "Input should be a valid refresh mode",
            "refresh",
        )
    if query.get("kind") != "HogQLQuery":
        detail = (
            f"Query kind {query.get('kind')!r} is not supported by the okrsync PostHog simulator"
        )
        return _error(400, "validation_error", "invalid_input", detail, "query")
    if not isinstance(query.get("query"), str):
        return _error(
            400,
            "validation_error",
            "invalid_input",
            "Input should be a valid string",
            "query__query",
        )
    values = query.get("values")
    if values is not None and not isinstance(values, dict):
        return _error(
            400,
            "validation_error",
            "invalid_input",
            "Input should be a valid dictionary",
            "query__values",
        )
    return None


def start_demo() -> PostHogSimulator:
    """A started simulator for ``okrsync demo`` (``DEMO_PROJECT_ID``, ``DEMO_API_KEY``)."""
    return PostHogSimulator().start()


SERVES = "posthog"


def demo(_: Span) -> Simulated:
    """The demo's PostHog: ``DEMO_API_KEY`` (POSTHOG_API_KEY), project ``DEMO_PROJECT_ID``."""
    server = start_demo()
    return Simulated.at(server, {"POSTHOG_API_KEY": DEMO_API_KEY}, project_id=DEMO_PROJECT_ID)


__all__ = [
    "DEMO_API_KEY",
    "DEMO_PROJECT_ID",
    "PAGES",
    "SCOPED_OUT_KEY",
    "SERVES",
    "PostHogSimulator",
    "demo",
    "seed_events",
    "start_demo",
]
