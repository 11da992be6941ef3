"""Google Analytics 4 on 127.0.0.1: the OAuth token endpoint and Data API v1beta runReport.

- ``POST /token`` (form): ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and
  an RS256 ``assertion`` checked against the registered service account's public key:
  ``aud`` must be ``https://oauth2.googleapis.com/token``, ``exp`` ≤ ``iat`` + 3600 and
  not past, ``scope`` present. Success ``{access_token, expires_in, token_type}``;
  refusals ``{error, error_description}`` in Google's words (``invalid_grant`` "Invalid
  JWT Signature.", "Invalid grant: account not found", "Invalid JWT: Failed audience
  check.", the 60-minute window message; ``invalid_scope``).
- ``POST /v1beta/properties/{id}:runReport``: Bearer tokens it issued (they expire
  after ``token_lifetime``; :meth:`Ga4Simulator.expire_tokens` forces it), the
  property's access, the request body (unknown fields, metric names, ``dateRanges``
  as ``YYYY-MM-DD``/``NdaysAgo``/``yesterday``/``today``, ``dimensionFilter`` as
  ``filter``/``andGroup`` of ``stringFilter`` EXACT), token quotas per property per
  day and hour (429 ``RESOURCE_EXHAUSTED`` "Exhausted property tokens per day. …").
  Answers ``metricHeaders`` (with ``type``), ``rows`` (left out when nothing matched,
  as GA4 does), ``rowCount``, ``metadata``, ``propertyQuota`` when asked, ``kind``;
  ``dimensionHeaders`` is left out as no dimensions are modelled (proto3 JSON drops
  empty lists: compare 8-bit-sheep/googleAnalyticsR#406 and #407). Date-range and
  missing-field messages are **unverified** wording; the rest is Google's as seen in
  public clients and Google's docs.
  Errors are ``{"error": {"code", "message", "status"}}``. Anything it does not
  model (dimensions, other filters, several date ranges …) is a 400
  ``INVALID_ARGUMENT`` saying so, never a made-up number.

Values: activeUsers, averageSessionDuration and screenPageViews follow
:func:`okrsync.simulators.stats.metric_value` (``mau_key_accounts``,
``avg_session_duration_seconds``, ``website_pageviews``) over the requested days;
other metrics are a deterministic function of (name, days); a filter takes a
deterministic share. :func:`start_demo` gives a running simulator and the demo
service-account key file (its ``token_uri`` points here).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from okrsync.simulators.server import FakeServer, Request, Response
from okrsync.simulators.stats import metric_value

DEMO_PROPERTY = "312345678"
DEMO_CLIENT_EMAIL = "okrsync-demo@okrsync-demo.iam.gserviceaccount.com"
DEMO_KEY_ID = "0d3m0k3y1d0kr5ync0000000000000000000000"
AUDIENCE = "https://oauth2.googleapis.com/token"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ_SCOPES = {
    "https://www.googleapis.com/auth/analytics.readonly",
    "https://www.googleapis.com/auth/analytics",
}
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
_DAY_MSG = "Exhausted property tokens per day. These quota tokens will return in under 24 hours."
_HOUR_MSG = "Exhausted property tokens per hour. These quota tokens will return in under an hour."
_CREDS = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
_WINDOW = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values and use a clock with skew to account for clock differences between systems."


def _utc_today() -> date:
    return datetime.now(UTC).date()


@cache
def demo_key() -> tuple[str, bytes]:
    """(private key PEM, public key PEM) of the demo service account, made once per process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


class GoogleError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.response = Response.json(
            {"error": {"code": code, "message": message, "status": status}}, code
        )


def _invalid(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


@dataclass
class _Grant:
    email: str
    scopes: set[str]
    expires: float  # time.monotonic()


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
        self._grants: dict[str, _Grant] = {}
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
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant != GRANT:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        account = self._accounts.get(str(claims.get("iss", "")))
        if account is None:
            return _oauth_error("invalid_grant", "Invalid grant: account not found")
        key_id, public = account
        try:
            if header.get("alg") != "RS256" or header.get("kid", key_id) != key_id:
                raise jwt.InvalidSignatureError
            jwt.decode(
                assertion,
                public,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != AUDIENCE:
            return _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600:
            return _oauth_error("invalid_grant", _WINDOW)
        if exp < now or iat > now + 300:
            return _oauth_error("invalid_grant", _WINDOW)
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes:
            return _oauth_error(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        with self._state:
            self._grants[token] = _Grant(
                str(claims["iss"]), scopes, time.monotonic() + self.token_lifetime
            )
        reply = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return Response.json(reply)

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
            raise _invalid(
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
        query = self._parse(body)
        metrics = self._metrics(query.get("metrics"))
        start, end = self._dates(query.get("dateRanges"))
        share = self._share(query.get("dimensionFilter"))
        quota = self._charge(prop, cost=1 + (end - start).days // 30)
        report: dict[str, Any] = {
            "metricHeaders": [{"name": m, "type": METRICS[m][0]} for m in metrics]
        }
        today = self.today()
        if share > 0 and start <= today:
            values = [_format(m, _amount(m, start, end, today, share)) for m in metrics]
            report["rows"] = [{"metricValues": [{"value": v} for v in values]}]
            report["rowCount"] = 1
        report["metadata"] = {"currencyCode": "USD", "timeZone": self.time_zone}
        if query.get("returnPropertyQuota") is True:
            report["propertyQuota"] = quota
        report["kind"] = "analyticsData#runReport"
        return report

    def _parse(self, body: bytes) -> dict[str, Any]:
        try:
            query = json.loads(body or b"{}")
        except ValueError:
            raise _invalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(query, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        for name in query:
            if name not in BODY_FIELDS:
                raise _invalid(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
                )
            if name not in MODELLED:
                raise _invalid(f"The okrsync GA4 simulator does not support {name}.")
        return query

    def _metrics(self, given: Any) -> list[str]:
        if not isinstance(given, list) or not given:
            raise _invalid("At least one metric is required.")  # unverified wording
        names = [m.get("name") if isinstance(m, dict) else None for m in given]
        for name in names:
            if name not in METRICS:
                raise _invalid(
                    f"Field {name} is not a valid metric. For a list of valid dimensions and "
                    f"metrics, see {SCHEMA}"
                )
        return [str(n) for n in names]

    def _dates(self, given: Any) -> tuple[date, date]:
        if not isinstance(given, list) or not given:
            raise _invalid("Must specify at least one date range.")  # unverified wording
        if len(given) > 1:
            raise _invalid("The okrsync GA4 simulator supports one date range per request.")
        spec = given[0] if isinstance(given[0], dict) else {}
        start, end = (self._day(spec.get(k), k) for k in ("startDate", "endDate"))
        if end < start:
            raise _invalid("endDate cannot be before startDate.")  # unverified wording
        return start, end

    def _day(self, text: Any, key: str) -> date:
        match = _DAY.fullmatch(text) if isinstance(text, str) else None
        try:
            if match is None:
                raise ValueError(text)
            if text in ("today", "yesterday") or match.group(1):
                back = 0 if text == "today" else 1 if text == "yesterday" else int(match.group(1))
                return self.today() - timedelta(days=back)
            return date.fromisoformat(text)
        except ValueError:
            raise _invalid(
                f"Invalid {key}: {text}. {key} must be YYYY-MM-DD, NdaysAgo, yesterday, or today."
            ) from None

    def _share(self, expr: Any, depth: int = 0) -> float:
        """The fraction of data a filter keeps; 0 when nothing matches."""
        if expr is None:
            return 1.0
        if not isinstance(expr, dict) or len(expr) != 1 or depth > 5:
            raise _invalid("Invalid JSON payload received. Oneof field 'expr' is already set.")
        kind, inner = next(iter(expr.items()))
        if (
            kind == "andGroup"
            and isinstance(inner, dict)
            and isinstance(inner.get("expressions"), list)
        ):
            share = 1.0
            for item in inner["expressions"]:
                share *= self._share(item, depth + 1)
            return share
        if kind != "filter" or not isinstance(inner, dict):
            raise _invalid(f"The okrsync GA4 simulator does not support {kind} filters.")
        field = inner.get("fieldName")
        if field not in DIMENSIONS:
            raise _invalid(
                f"Field {field} is not a valid dimension. For a list of valid dimensions and metrics, see {SCHEMA}"
            )
        string = inner.get("stringFilter")
        if set(inner) != {"fieldName", "stringFilter"} or not isinstance(string, dict):
            raise _invalid("The okrsync GA4 simulator supports only stringFilter filters.")
        if string.get("matchType", "EXACT") != "EXACT" or not isinstance(string.get("value"), str):
            raise _invalid("The okrsync GA4 simulator supports only stringFilter EXACT.")
        value = string["value"]
        if (field == "eventName" and value not in EVENTS) or (
            field == "pagePath" and not value.startswith("/")
        ):
            return 0.0
        return 0.05 + (zlib.crc32(f"{field}={value}".encode()) % 50) / 100

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


def _amount(metric: str, start: date, end: date, today: date, share: float) -> float:
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


def _format(metric: str, value: float) -> str:
    """As GA4 writes values: integers bare, others as decimals."""
    if METRICS[metric][0] == "TYPE_INTEGER":
        return str(round(value))
    return repr(round(value, 6))


@dataclass(frozen=True)
class Ga4Demo:
    """What ``okrsync demo`` needs: the secret the example connection names, overrides."""

    environ: dict[str, str]
    overrides: dict[str, Any]


def start_demo(*, today: Callable[[], date] = _utc_today) -> tuple[Ga4Simulator, Ga4Demo]:
    """A started simulator; the demo key file is handed over as ``credentials``."""
    sim = Ga4Simulator(today=today).start()
    key = sim.service_account_json()
    overrides = {"url": sim.url, "credentials": key, "property": DEMO_PROPERTY}
    return sim, Ga4Demo({"GA4_CREDENTIALS": key}, overrides)


__all__ = [
    "DEMO_CLIENT_EMAIL",
    "DEMO_KEY_ID",
    "DEMO_PROPERTY",
    "METRICS",
    "Ga4Demo",
    "Ga4Simulator",
    "demo_key",
    "start_demo",
]
