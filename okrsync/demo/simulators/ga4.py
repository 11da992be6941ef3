"""Google Analytics 4 on 127.0.0.1: the OAuth token endpoint and Data API v1beta runReport.

- ``POST /token``: Google's JWT-bearer grant for service accounts, checked as
  :mod:`okrsync.demo.simulators._ga4_oauth` describes; it hands out Bearer tokens.
- ``POST /v1beta/properties/{id}:runReport``: Bearer tokens it issued (they expire
  after ``token_lifetime``; :meth:`Ga4Simulator.expire_tokens` forces it), the
  property's access, the request body (parsed and valued as
  :mod:`okrsync.demo.simulators._ga4_report` describes), token quotas per property per
  day and hour (429 ``RESOURCE_EXHAUSTED`` "Exhausted property tokens per day. …").
  Answers ``metricHeaders`` (with ``type``), ``rows`` (left out when nothing matched,
  as GA4 does), ``rowCount``, ``metadata``, ``propertyQuota`` when asked, ``kind``;
  ``dimensionHeaders`` is left out as no dimensions are modelled (proto3 JSON drops
  empty lists: compare 8-bit-sheep/googleAnalyticsR#406 and #407).
  Errors are ``{"error": {"code", "message", "status"}}``.

:func:`start_demo` gives a running simulator and the demo service-account key file
(its ``token_uri`` points here).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from okrsync.demo.simulators._ga4_oauth import (
    Grant,
    check_grant,
    demo_key,
    new_access_token,
    new_key,
    token_response,
)
from okrsync.demo.simulators._ga4_report import (
    METRICS,
    GoogleError,
    amount,
    filter_share,
    format_value,
    invalid,
    parse_dates,
    parse_metrics,
    parse_query,
)
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span

DEMO_PROPERTY = "312345678"
DEMO_CLIENT_EMAIL = "okrsync-demo@okrsync-demo.iam.gserviceaccount.com"
DEMO_KEY_ID = "0d3m0k3y1d0kr5ync0000000000000000000000"
READ_SCOPES = {
    "https://www.googleapis.com/auth/analytics.readonly",
    "https://www.googleapis.com/auth/analytics",
}
_DAY_MSG = "Exhausted property tokens per day. These quota tokens will return in under 24 hours."
_HOUR_MSG = "Exhausted property tokens per hour. These quota tokens will return in under an hour."
_CREDS = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."


def _utc_today() -> date:
    return datetime.now(UTC).date()


class Ga4Simulator(FakeServer):
    """One demo service account that may read ``properties`` (DEMO_PROPERTY by default)."""

    def __init__(
        self,
        *,
        today: Callable[[], date] = _utc_today,
        latency: float = 0.0,
        properties: tuple[str, ...] = (DEMO_PROPERTY,),
        token_lifetime: int = 3599,
        tokens_per_day: int = 200_000,
        tokens_per_hour: int = 40_000,
        time_zone: str = "America/Los_Angeles",
    ) -> None:
        super().__init__(latency=latency)
        self.today, self.properties = today, set(properties)
        self.token_lifetime, self.time_zone = token_lifetime, time_zone
        self.tokens_per_day, self.tokens_per_hour = tokens_per_day, tokens_per_hour
        self._accounts: dict[str, tuple[str, bytes]] = {}  # email → (key id, public PEM)
        self._grants: dict[str, Grant] = {}
        self._used: dict[tuple[str, str], int] = {}  # (property, day or hour bucket) → tokens
        self._state = threading.Lock()
        self.add_account(DEMO_CLIENT_EMAIL, demo_key()[1], DEMO_KEY_ID)
        self.route("POST", r"/token", self._token)
        self.route("POST", r"/v1beta/properties/(?P<id>[^/:]+):runReport", self._run_report)

    # -- set-up for tests and the demo ---------------------------------------

    def add_account(self, email: str, public_pem: bytes, key_id: str = "") -> None:
        self._accounts[email] = (key_id, public_pem)

    def service_account_info(
        self, email: str = DEMO_CLIENT_EMAIL, private_pem: str | None = None
    ) -> dict[str, str]:
        """A key file as the Cloud console downloads it, its token_uri pointing here."""
        key_id = self._accounts.get(email, ("", b""))[0]
        return {
            "type": "service_account",
            "project_id": email.split("@")[-1].split(".")[0],
            "private_key_id": key_id,
            "private_key": private_pem or demo_key()[0],
            "client_email": email,
            "client_id": str(zlib.crc32(email.encode())),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
            "universe_domain": "googleapis.com",
        }

    def service_account_json(self, **kwargs: Any) -> str:
        return json.dumps(self.service_account_info(**kwargs), indent=2)

    def write_service_account(self, path: Path, **kwargs: Any) -> Path:
        path.write_text(self.service_account_json(**kwargs), encoding="utf-8")
        return path

    def reset(self) -> None:
        """Forget requests, faults, tokens and spent quota (a fixture shared by tests)."""
        self.clear_requests()
        self.clear_faults()
        with self._state:
            self._grants.clear()
            self._used.clear()

    def expire_tokens(self) -> None:
        """Every access token handed out so far is rejected from now on."""
        with self._state:
            self._grants.clear()

    def spend_quota(self, kind: str = "day", prop: str = DEMO_PROPERTY) -> None:
        """Use up the property's tokens for the day (or the hour)."""
        with self._state:
            key, limit = self._bucket(prop, kind)
            self._used[key] = limit

    # -- POST /token ------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        checked = check_grant(request.body, self._accounts)
        if isinstance(checked, Response):
            return checked
        email, scopes = checked
        token = new_access_token()
        with self._state:
            self._grants[token] = Grant(email, scopes, time.monotonic() + self.token_lifetime)
        return token_response(token, self.token_lifetime)

    # -- POST /v1beta/properties/{id}:runReport ---------------------------------

    def authorize(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            message = f"Request is missing required authentication credential. {_CREDS}"
            return GoogleError(401, "UNAUTHENTICATED", message).response
        token = given.removeprefix("Bearer ")
        with self._state:
            grant = next(
                (g for t, g in self._grants.items() if hmac.compare_digest(t, token)), None
            )
        if grant is None or grant.expires <= time.monotonic():
            message = f"Request had invalid authentication credentials. {_CREDS}"
            error = GoogleError(401, "UNAUTHENTICATED", message).response
            header = {
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            }
            return Response(401, error.body, {**error.headers, **header})
        if not grant.scopes & READ_SCOPES:
            return GoogleError(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
            ).response
        return None

    def _run_report(self, request: Request) -> Response:
        try:
            return Response.json(self._report(request.params["id"], request.body))
        except GoogleError as exc:
            return exc.response

    def _report(self, prop: str, body: bytes) -> dict[str, Any]:
        if not prop.isdigit():
            raise invalid(
                f"Invalid property ID: {prop}. A numeric Property ID is required. To learn more "
                "about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id."
            )
        if prop not in self.properties:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property. To learn more about "
                "Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
            )
        query = parse_query(body)
        metrics = parse_metrics(query.get("metrics"))
        start, end = parse_dates(query.get("dateRanges"), self.today)
        share = filter_share(query.get("dimensionFilter"))
        quota = self._charge(prop, cost=1 + (end - start).days // 30)
        report: dict[str, Any] = {
            "metricHeaders": [{"name": m, "type": METRICS[m][0]} for m in metrics]
        }
        today = self.today()
        if share > 0 and start <= today:
            values = [format_value(m, amount(m, start, end, today, share)) for m in metrics]
            report["rows"] = [{"metricValues": [{"value": v} for v in values]}]
            report["rowCount"] = 1
        report["metadata"] = {"currencyCode": "USD", "timeZone": self.time_zone}
        if query.get("returnPropertyQuota") is True:
            report["propertyQuota"] = quota
        report["kind"] = "analyticsData#runReport"
        return report

    def _bucket(self, prop: str, kind: str) -> tuple[tuple[str, str], int]:
        if kind == "day":
            return (prop, self.today().isoformat()), self.tokens_per_day
        return (prop, f"h{int(time.time() // 3600)}"), self.tokens_per_hour

    def _charge(self, prop: str, cost: int) -> dict[str, Any]:
        with self._state:
            (day, per_day), (hour, per_hour) = self._bucket(prop, "day"), self._bucket(prop, "hour")
            if self._used.get(day, 0) >= per_day:
                raise GoogleError(429, "RESOURCE_EXHAUSTED", _DAY_MSG)
            if self._used.get(hour, 0) >= per_hour:
                raise GoogleError(429, "RESOURCE_EXHAUSTED", _HOUR_MSG)
            used_day = self._used[day] = self._used.get(day, 0) + cost
            used_hour = self._used[hour] = self._used.get(hour, 0) + cost

        def status(used: int, limit: int) -> dict[str, int]:
            return {"consumed": cost, "remaining": max(0, limit - used)}

        return {
            "tokensPerDay": status(used_day, per_day),
            "tokensPerHour": status(used_hour, per_hour),
            "concurrentRequests": {"remaining": 10},
            "serverErrorsPerProjectPerHour": {"remaining": 10},
            "potentiallyThresholdedRequestsPerHour": {"remaining": 120},
            "tokensPerProjectPerHour": status(used_hour, per_hour * 35 // 100),
        }


def start_demo(*, today: Callable[[], date] = _utc_today) -> tuple[Ga4Simulator, Simulated]:
    """A started simulator; the demo key file is handed over as ``credentials``."""
    sim = Ga4Simulator(today=today).start()
    key = sim.service_account_json()
    overrides = {"url": sim.url, "credentials": key, "property": DEMO_PROPERTY}
    return sim, Simulated(sim, {"GA4_CREDENTIALS": key}, overrides)


SERVES = "ga4"


def demo(_: Span) -> Simulated:
    """The demo's GA4 property, its service-account key handed over as GA4_CREDENTIALS."""
    return start_demo()[1]


__all__ = [
    "DEMO_CLIENT_EMAIL",
    "DEMO_KEY_ID",
    "DEMO_PROPERTY",
    "METRICS",
    "SERVES",
    "Ga4Simulator",
    "demo",
    "demo_key",
    "new_key",
    "start_demo",
]
