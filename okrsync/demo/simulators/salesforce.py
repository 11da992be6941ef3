"""A Salesforce org on 127.0.0.1, over TLS, answering the calls simple-salesforce 1.12 makes.

Endpoints (paths exactly as the client builds them):

- SOAP login ``POST …/services/Soap/u/<ver>`` (matched by suffix, so the domain
  ``127.0.0.1:PORT/login`` works): unprefixed ``<sessionId>``/``<serverUrl>``, or a
  500 SOAP fault ``INVALID_LOGIN`` with ``<sf:exceptionCode>``;
- OAuth ``POST …/services/oauth2/token``: ``client_credentials`` (Basic auth),
  JWT bearer (RS256 signature checked with the app's registered public key; ``iss``,
  ``sub``, ``aud``, ``exp`` as simple-salesforce sends them) and ``password``;
- REST under ``/services/data/vXX.X/``: ``query/`` and ``queryAll/`` with
  ``nextRecordsUrl`` paging (``page_size`` records a page), ``composite/batch``
  (≤ 25 subrequests, each one API call) and ``analytics/reports/{id}`` (grand total in
  ``factMap["T!T"]``). Every REST reply carries ``Sforce-Limit-Info: api-usage=USED/MAX``;
  a bad Bearer gets 401 ``INVALID_SESSION_ID``, a spent allowance 403
  ``REQUEST_LIMIT_EXCEEDED``.

The data is seeded and deterministic (:mod:`okrsync.demo.simulators._salesforce_data`):
Opportunities closing across 2026 (won or lost once their CloseDate is past ``today``,
a few soft-deleted), Accounts and one report. The SOQL evaluator
(:mod:`okrsync.demo.simulators._soql`) takes ``SELECT COUNT() | agg(f) [alias], … | f1, f2
FROM X [WHERE a op v AND …]`` and answers everything else with the error the real API
gives (INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR) or
MALFORMED_QUERY: it never makes up an answer. The logins live in
:mod:`okrsync.demo.simulators._salesforce_auth`.

simple-salesforce only speaks https, so ``start()`` makes a throw-away trustme CA;
connections trust it with ``ca_bundle: <sim.ca_file>``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from okrsync.demo.simulators._salesforce_auth import App, Logins
from okrsync.demo.simulators._salesforce_data import ORG_ID, REPORT_ID, report_answer, seed_records
from okrsync.demo.simulators._salesforce_data import REPORT_NAME as REPORT_NAME  # re-exported
from okrsync.demo.simulators._soql import SoqlError, parse, select
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span

DEMO_USERNAME = "demo@okrsync.example"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - published, accepted only by the simulator
DEMO_SECURITY_TOKEN = "demoSecurityToken0"  # noqa: S105 - same
DEMO_CONSUMER_KEY = "3MVG9okrsync.demo.consumer.key"
DEMO_CONSUMER_SECRET = "demo-consumer-secret"  # noqa: S105 - same
MAX_BATCH = 25


def _utc_today() -> date:
    return datetime.now(UTC).date()


class SalesforceSimulator(FakeServer):
    """One org, one user and one connected app by default (the DEMO_* constants)."""

    def __init__(
        self,
        *,
        today: Callable[[], date] = _utc_today,
        daily_limit: int = 15_000,
        page_size: int = 2000,
        seed: int = 2026,
        opportunities: int = 1200,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.today = today
        self.daily_limit = daily_limit
        self.page_size = page_size
        self.api_used = 0
        self._opps, self._accounts = seed_records(seed, opportunities)
        self._views: dict[tuple[str, date, bool], list[dict[str, Any]]] = {}
        self._views_lock = threading.Lock()  # apart from _state: records() runs under it
        self._logins = Logins(self)
        self._sessions: dict[str, str] = {}  # session id → username
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._cursor_count = 0
        self._state = threading.Lock()
        self._tmp: Path | None = None
        self.add_user(DEMO_USERNAME, DEMO_PASSWORD, DEMO_SECURITY_TOKEN)
        self.add_app(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, run_as=DEMO_USERNAME)
        data = r"/services/data/v(?P<ver>\d+\.\d)"
        self.route("POST", r"(?:/.*)?/services/Soap/u/(?P<ver>\d+\.\d)", self._logins.soap_login)
        self.route("POST", r"(?:/.*)?/services/oauth2/token", self._logins.token)
        self.route("GET", data + r"/(?P<kind>query|queryAll)/?", self._rest(self._query))
        self.route(
            "GET", data + r"/(?P<kind>query|queryAll)/(?P<loc>01g[\w-]+)", self._rest(self._more)
        )
        self.route("POST", data + r"/composite/batch/?", self._rest(self._batch, cost=0))
        self.route("GET", data + r"/analytics/reports/(?P<id>\w+)/?", self._rest(self._report))

    # -- set-up for tests ----------------------------------------------------

    def add_user(self, username: str, password: str, security_token: str) -> None:
        self._logins.users[username] = password + security_token

    def add_app(
        self,
        consumer_key: str,
        consumer_secret: str | None = None,
        *,
        public_key: bytes | None = None,
        run_as: str | None = None,
    ) -> None:
        """A connected app; ``public_key`` (PEM) enables JWT bearer for it."""
        self._logins.apps[consumer_key] = App(consumer_secret, public_key, run_as)

    def new_session(self, username: str = DEMO_USERNAME) -> str:
        """A valid session id, as an admin would hand one out (``session_id`` flow)."""
        sid = f"{ORG_ID}!{secrets.token_urlsafe(24)}"
        with self._state:
            self._sessions[sid] = username
        return sid

    def expire_sessions(self) -> None:
        with self._state:
            self._sessions.clear()

    def records(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Rows as SOQL sees them today (dates as date/datetime objects); do not modify them.

        Built once per (object, day, deleted or not): materialising 1,200 rows on
        every query cost the benchmark's simulator more than okrsync itself.
        """
        today = self.today()
        key = (sobject, today, include_deleted)
        with self._views_lock:
            cached = self._views.get(key)
        if cached is not None:
            return cached
        if sobject == "Account":
            rows = [dict(a) for a in self._accounts]
        else:
            rows = []
            for o in self._opps:
                closed = o["CloseDate"] <= today
                won = closed and o["_wins"]
                stage = ("Closed Won" if won else "Closed Lost") if closed else o["_stage"]
                row = {k: v for k, v in o.items() if not k.startswith("_")}
                rows.append(row | {"IsClosed": closed, "IsWon": won, "StageName": stage})
        view = [r for r in rows if include_deleted or not r["IsDeleted"]]
        with self._views_lock:
            if len(self._views) > 16:  # a test moving ``today`` must not grow this forever
                self._views.clear()
            self._views[key] = view
        return view

    @property
    def domain(self) -> str:
        """What a connection's ``domain`` must be to log in here."""
        return f"127.0.0.1:{self.port}/login"

    @property
    def ca_file(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("simulator not started")
        return self._tmp / "ca.pem"

    def connection_overrides(self) -> dict[str, Any]:
        """Point a salesforce connection here: ``settings.model_copy(update=...)``."""
        return {"domain": self.domain, "ca_bundle": self.ca_file}

    # -- lifecycle: a fresh CA per start, removed on stop ---------------------

    def start(self) -> Self:
        if self._tmp is None:
            import trustme  # a dev/demo dependency: only simulators need it

            self._tmp = Path(tempfile.mkdtemp(prefix="okrsync-sf-"))
            ca = trustme.CA()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            ca.cert_pem.write_to_path(str(self._tmp / "ca.pem"))
            self.tls = context
        return super().start()

    def stop(self) -> None:
        super().stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- REST: session, allowance and Sforce-Limit-Info -----------------------

    def _rest(
        self, handler: Callable[[Request], tuple[int, Any]], cost: int = 1
    ) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            with self._state:
                if not auth.startswith("Bearer ") or auth[7:] not in self._sessions:
                    error = [
                        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
                    ]
                    return self._reply(401, error)
                if self.api_used + max(cost, 1) > self.daily_limit:
                    return self._reply(403, _limit_error())
                self.api_used += cost
            try:
                status, data = handler(request)
            except SoqlError as exc:
                status, data = 400, [{"message": exc.message, "errorCode": exc.code}]
            return self._reply(status, data)

        return serve

    def _reply(self, status: int, data: Any) -> Response:
        usage = f"api-usage={self.api_used}/{self.daily_limit}"
        return Response.json(data, status, {"Sforce-Limit-Info": usage})

    def _query(self, request: Request) -> tuple[int, Any]:
        if "q" not in request.query:
            return 400, [{"message": "missing q", "errorCode": "MALFORMED_QUERY"}]
        ver, kind = request.params["ver"], request.params["kind"]
        return 200, self.run_query(request.query["q"], kind == "queryAll", ver)

    def _more(self, request: Request) -> tuple[int, Any]:
        return self._page(request.params["ver"], request.params["kind"], request.params["loc"])

    def _report(self, request: Request) -> tuple[int, Any]:
        details = request.query.get("includeDetails", "false") == "true"
        return self.run_report(request.params["id"], request.params["ver"], details)

    def _batch(self, request: Request) -> tuple[int, Any]:
        try:
            body = json.loads(request.body)
            subs = body["batchRequests"]
            assert isinstance(subs, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, [{"message": "batchRequests is required", "errorCode": "JSON_PARSER_ERROR"}]
        if not subs or len(subs) > MAX_BATCH:
            message = f"A batch must contain 1 to {MAX_BATCH} subrequests, not {len(subs)}."
            return 400, [{"message": message, "errorCode": "LIMIT_EXCEEDED"}]
        halt, halted, results = bool(body.get("haltOnError")), False, list[dict[str, Any]]()
        for sub in subs:
            if halted:
                error = [
                    {
                        "errorCode": "BATCH_PROCESSING_HALTED",
                        "message": "Batch processing halted per request",
                    }
                ]
                results.append({"statusCode": 412, "result": error})
                continue
            with self._state:
                spent = self.api_used >= self.daily_limit
                self.api_used += 0 if spent else 1
            status, data = (403, _limit_error()) if spent else self._subrequest(sub)
            results.append({"statusCode": status, "result": data})
            halted = halt and status >= 400
        return 200, {"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results}

    def _subrequest(self, sub: Any) -> tuple[int, Any]:
        url = str(sub.get("url", "")) if isinstance(sub, dict) else ""
        target = urlsplit(url.removeprefix("/services/data/").lstrip("/"))
        query = dict(parse_qsl(target.query))
        if not isinstance(sub, dict) or sub.get("method") != "GET":
            return 405, [
                {"errorCode": "METHOD_NOT_ALLOWED", "message": "the simulator batches GET only"}
            ]
        try:
            if m := re.fullmatch(r"v(\d+\.\d)/(query|queryAll)/?", target.path):
                return 200, self.run_query(query.get("q", ""), m[2] == "queryAll", m[1])
            if m := re.fullmatch(r"v(\d+\.\d)/(query|queryAll)/(01g[\w-]+)", target.path):
                return self._page(m[1], m[2], m[3])
            if m := re.fullmatch(r"v(\d+\.\d)/analytics/reports/(\w+)/?", target.path):
                return self.run_report(m[2], m[1], query.get("includeDetails") == "true")
        except SoqlError as exc:
            return 400, [{"message": exc.message, "errorCode": exc.code}]
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

    # -- SOQL ---------------------------------------------------------------------

    def run_query(self, soql: str, include_deleted: bool = False, ver: str = "62.0") -> Any:
        """The REST answer to ``soql`` (first page), or SoqlError."""
        rows_of = partial(self.records, include_deleted=include_deleted)
        out = select(soql, rows_of, ver)
        if isinstance(out, dict):
            return out
        with self._state:
            self._cursor_count += 1
            cursor = f"01gSIM{self._cursor_count:012d}"
            self._cursors[cursor] = out
            if len(self._cursors) > 200:  # the oldest locators expire, as real ones do
                del self._cursors[next(iter(self._cursors))]
        kind = "queryAll" if include_deleted else "query"
        return self._page(ver, kind, f"{cursor}-0")[1]

    def _page(self, ver: str, kind: str, locator: str) -> tuple[int, Any]:
        cursor, _, offset = locator.partition("-")
        rows = self._cursors.get(cursor)
        if rows is None or not offset.isdigit():
            return 400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]
        start, end = int(offset), int(offset) + self.page_size
        page: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            page["nextRecordsUrl"] = f"/services/data/v{ver}/{kind}/{cursor}-{end}"
        page["records"] = rows[start:end]
        return 200, page

    # -- reports -------------------------------------------------------------------

    def run_report(
        self, report_id: str, ver: str = "62.0", details: bool = False
    ) -> tuple[int, Any]:
        if report_id not in (REPORT_ID, REPORT_ID[:15]):
            return 404, [
                {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
            ]
        rows = [r for r in self.records("Opportunity") if r["IsWon"]]
        return 200, report_answer(rows, ver, details)


def _limit_error() -> list[dict[str, str]]:
    return [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def start_demo(*, today: Callable[[], date] = _utc_today) -> tuple[SalesforceSimulator, Simulated]:
    """A started simulator and the demo login (OAuth client credentials, as the example uses)."""
    sim = SalesforceSimulator(today=today).start()
    environ = {"SF_CONSUMER_KEY": DEMO_CONSUMER_KEY, "SF_CONSUMER_SECRET": DEMO_CONSUMER_SECRET}
    return sim, Simulated(sim, environ, sim.connection_overrides())


SERVES = "salesforce"


def demo(_: Span) -> Simulated:
    """The demo's org over TLS, logging in with OAuth client credentials."""
    return start_demo()[1]


__all__ = [
    "DEMO_CONSUMER_KEY",
    "DEMO_CONSUMER_SECRET",
    "DEMO_PASSWORD",
    "DEMO_SECURITY_TOKEN",
    "DEMO_USERNAME",
    "REPORT_ID",
    "SERVES",
    "SalesforceSimulator",
    "SoqlError",
    "demo",
    "parse",
    "start_demo",
]
