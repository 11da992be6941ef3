"""Oslo kommune's OKR Tracker API on 127.0.0.1, behind a stand-in for its Google API Gateway.

As github.com/oslokommune/okr-tracker @66d697a (``functions/api/**``,
``public/openapi.yaml``) answers, checked in its order:

1. the gateway: a route ``openapi.yaml`` lists, else 404 ``{"code":404,…}``; then
   ``x-api-key``: none → 401 ``{"code":401,"message":"UNAUTHENTICATED:…"}``,
   wrong → 400 ``{"code":400,"message":"INVALID_ARGUMENT:API key not valid…"}``;
2. express-rate-limit (``limit`` requests per ``window`` seconds, 1000 per 5
   minutes): 429 text ``Too many requests, please try again later.`` with
   ``Retry-After`` (seconds to the window's reset) and ``X-RateLimit-*``;
3. express.json (a body without ``Content-Type: application/json`` is ``{}``) and
   express-validator 7: 400 ``{"message":"Invalid request data","errors":{…}}``,
   the first error per field (``Required field``, ``Invalid value``,
   ``Future dates not allowed``, the credentials' ``oneOf``);
4. 404 for an unknown id (JSON on the ``values`` routes, text elsewhere);
5. ``checkApiAuth``: the API client (by id, its newest secret) of the item's
   owner, else the owner's team secret; 401 ``{"message"}`` with the tool's texts;
6. the write: ``PUT …/values/{date}`` keeps one entry per UTC day at 12:00
   (deleting that day's others), ``POST /keyres/{id}`` appends one at now with
   ``archived: false``; ``currentValue`` is the newest entry, ``progression``
   its clamped share of start → target (the tool sets both in a trigger, later).

Accepted writes are recorded in :attr:`OkrTrackerSimulator.received`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import unquote

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_API_KEY = "okr-gateway-demo-key-0000000000"
DEMO_CLIENT_ID = "okrsync"
DEMO_CLIENT_SECRET = "okr-client-demo-secret-1111111111"  # noqa: S105 - published, simulator only
DEMO_TEAM_SECRET = "okr-team-demo-secret-2222222222"  # noqa: S105 - same
DEMO_PARENT = "Dataspeilet"
DEMO_KEY_RESULT = "kr7GqJ2pX0aZbW1cD3eF"
DEMO_KPI = "kpi4HsT9uV2wX5yZ8aB1"

NO_KEY = (
    "UNAUTHENTICATED:Method doesn't allow unregistered callers (callers without established "
    "identity). Please use API Key or other form of API consumer identity to call this API."
)
BAD_KEY = "INVALID_ARGUMENT:API key not valid. Please pass a valid API key."
NOT_DEFINED = "The current request is not defined by this API."
TOO_MANY = "Too many requests, please try again later."
CREDENTIALS = (
    "A pair of `okr-client-id`/`okr-client-secret` headers or an `okr-team-secret` "
    "header is required"
)
# The gateway's routes (openapi.yaml): method, path.
GATEWAY = (
    ("GET", r"/kpi"),
    ("GET", r"/kpi/[^/]+"),
    ("POST", r"/kpi/[^/]+"),
    ("GET", r"/kpi/[^/]+/values"),
    ("PUT", r"/kpi/[^/]+/values/[^/]+"),
    ("DELETE", r"/kpi/[^/]+/values/[^/]+"),
    ("GET", r"/keyres/[^/]+"),
    ("POST", r"/keyres/[^/]+"),
    ("PUT", r"/keyres/[^/]+/values/[^/]+"),
    ("PATCH", r"/user/[^/]+"),
)
FLOAT = re.compile(r"^[-+]?[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?$")  # validator.js isFloat
DATE = re.compile(r"^(\d{4})([-/])(\d{2})\2(\d{2})$")  # isDate: YYYY/MM/DD, '/' or '-'
ESCAPES = {"&": "&amp;", '"': "&quot;", "'": "&#x27;", "<": "&lt;", ">": "&gt;"}
ESCAPES |= {"/": "&#x2F;", "\\": "&#x5C;", "`": "&#96;"}

Kind = Literal["keyres", "kpi"]


@dataclass
class Owner:
    """An organisation, department or product: owns key results and KPIs, holds API clients."""

    name: str
    clients: dict[str, str] = field(default_factory=dict)  # client id -> its newest secret
    team_secret: str | None = None


@dataclass(frozen=True)
class Item:
    """A key result (``start``/``target`` for its progression) or a KPI, owned by ``owner``."""

    owner: str
    name: str = ""
    start: float = 0.0
    target: float = 100.0


@dataclass(frozen=True)
class Entry:
    """One stored progress value."""

    value: float
    timestamp: datetime
    comment: str | None
    created_by: str | None
    archived: bool | None  # POST sets False; PUT sets nothing (so GET's lastUpdated skips it)


@dataclass(frozen=True)
class Received:
    """One accepted write."""

    kind: Kind
    id: str
    value: float
    date: date  # the day it is filed under (today for a POST)
    comment: str | None  # as stored: trimmed and HTML-escaped
    route: Literal["values", "progress"]  # PUT …/values/{date} or POST /{kind}/{id}
    credential: str  # "client:<id>" or "team"


def _error(status: int, message: str) -> Response:
    return Response.json({"message": message}, status)


def _text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    head = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
    return Response(status, text.encode(), head)


def js_string(value: Any) -> str:
    """What express-validator validates: the value as JavaScript's ``String()`` has it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(float(value))
    if isinstance(value, str):
        return value
    return "[object Object]"


def js_number(value: float) -> str:
    """JavaScript's ``Number.prototype.toString`` for the values we see: 42, 42.5, 1e+21."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(value))


def escape(text: str) -> str:
    """validator.js ``escape``."""
    return "".join(ESCAPES.get(c, c) for c in text)


def _stringify(data: Mapping[str, Any]) -> str:
    """``JSON.stringify`` of ``{value, comment?}``."""
    parts = {k: (float(v) if k == "value" else v) for k, v in data.items()}
    inner = ",".join(
        f"{json.dumps(k)}:{js_number(v) if isinstance(v, float) else json.dumps(v, ensure_ascii=False)}"
        for k, v in parts.items()
    )
    return "{" + inner + "}"


class OkrTrackerSimulator(FakeServer):
    """Key result ``DEMO_KEY_RESULT`` and KPI ``DEMO_KPI`` of ``DEMO_PARENT``, which has API
    client ``DEMO_CLIENT_ID``/``DEMO_CLIENT_SECRET`` and team secret ``DEMO_TEAM_SECRET``."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        owners: Mapping[str, Owner] | None = None,
        key_results: Mapping[str, Item] | None = None,
        kpis: Mapping[str, Item] | None = None,
        limit: int = 1000,
        window: float = 300.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        demo = Owner(DEMO_PARENT, {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET}, DEMO_TEAM_SECRET)
        self.api_key = api_key
        self.owners = dict(owners if owners is not None else {DEMO_PARENT: demo})
        self.items: dict[Kind, dict[str, Item]] = {
            "keyres": dict(key_results or {DEMO_KEY_RESULT: Item(DEMO_PARENT, "Demo KR")}),
            "kpi": dict(kpis or {DEMO_KPI: Item(DEMO_PARENT, "Demo KPI")}),
        }
        self.limit, self.window, self.now = limit, window, now
        self.received: list[Received] = []
        self._entries: dict[tuple[Kind, str], list[Entry]] = {}
        self._hits = 0
        self._reset_at = 0.0
        self._state = threading.Lock()
        self.route("PUT", r"/(?P<kind>keyres|kpi)/(?P<id>[^/]+)/values/(?P<date>[^/]+)", self._put)
        self.route("POST", r"/(?P<kind>keyres|kpi)/(?P<id>[^/]+)", self._post)
        self.route("GET", r"/keyres/(?P<id>[^/]+)", self._get_keyres)
        self.route("GET", r"/kpi/(?P<id>[^/]+)/values", self._kpi_values)

    # -- what tests read -------------------------------------------------------

    def entries(self, kind: Kind, ident: str) -> list[Entry]:
        """The stored values of one item, oldest first."""
        with self._state:
            return sorted(self._entries.get((kind, ident), []), key=lambda e: e.timestamp)

    # -- gateway and rate limit --------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        if not any(m == request.method and re.fullmatch(p, request.path) for m, p in GATEWAY):
            return Response.json({"code": 404, "message": NOT_DEFINED}, 404)
        key = request.headers.get("x-api-key")
        if not key:
            return Response.json({"code": 401, "message": NO_KEY}, 401)
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return Response.json({"code": 400, "message": BAD_KEY}, 400)
        clock = time.time()
        with self._state:
            if clock >= self._reset_at:
                self._hits, self._reset_at = 0, clock + self.window
            self._hits += 1
            over, left = self._hits > self.limit, max(0, self.limit - self._hits)
            reset = self._reset_at
        if over:
            return _text(
                429,
                TOO_MANY,
                {
                    "Retry-After": str(max(0, math.ceil(reset - clock))),
                    "X-RateLimit-Limit": str(self.limit),
                    "X-RateLimit-Remaining": str(left),
                    "X-RateLimit-Reset": str(math.ceil(reset)),
                },
            )
        return None

    # -- routes ------------------------------------------------------------------

    def _put(self, request: Request) -> Response:
        kind: Kind = "kpi" if request.params["kind"] == "kpi" else "keyres"
        body = self._body(request)
        if isinstance(body, Response):
            return body
        errors: dict[str, Any] = {}
        self._credentials(request, errors)
        day = self._date(unquote(request.params["date"]), errors)
        value = self._measurement(body, "value", errors)
        if errors:
            return Response.json({"message": "Invalid request data", "errors": errors}, 400)
        assert day is not None
        assert value is not None
        ident = escape(unquote(request.params["id"]).strip())
        item = self.items[kind].get(ident)
        if item is None:
            noun = "KPI" if kind == "kpi" else "key result"
            return _error(404, f"Could not find {noun} with ID: {ident}")
        refused, credential = self._check_auth(request, item)
        if refused is not None:
            return refused
        comment = self._comment(body)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        with self._state:
            kept = self._entries.setdefault((kind, ident), [])
            same_day = [e for e in kept if e.timestamp.date() == day]
            created_by = (
                same_day[0].created_by if same_day else ("API" if kind == "keyres" else None)
            )
            kept[:] = [e for e in kept if e.timestamp.date() != day]
            kept.append(Entry(value, noon, comment, created_by, None))
            self.received.append(Received(kind, ident, value, day, comment, "values", credential))
        if kind == "keyres":
            return Response.json(
                {"message": f"Updated key result {ident} with value {js_number(value)}"}
            )
        data = {"value": value, **({"comment": comment} if comment else {})}
        return Response.json({"message": f"Updated progression on {day} with: {_stringify(data)}"})

    def _post(self, request: Request) -> Response:
        kind: Kind = "kpi" if request.params["kind"] == "kpi" else "keyres"
        body = self._body(request)
        if isinstance(body, Response):
            return body
        errors: dict[str, Any] = {}
        self._credentials(request, errors)
        value = self._measurement(body, "progress", errors)
        if errors:
            return Response.json({"message": "Invalid request data", "errors": errors}, 400)
        assert value is not None
        ident = escape(unquote(request.params["id"]).strip())
        item = self.items[kind].get(ident)
        if item is None:  # (sic: the key result route says KPI too)
            return _text(404, f"Could not find KPI with ID: {ident}")
        refused, credential = self._check_auth(request, item)
        if refused is not None:
            return refused
        comment = self._comment(body)
        now = self.now()
        with self._state:
            kept = self._entries.setdefault((kind, ident), [])
            if kind == "keyres":
                kept.append(Entry(value, now, comment, "API", False))
            else:  # updateKPIProgressionValue: today's value, at 12:00
                noon = datetime(now.year, now.month, now.day, 12, tzinfo=UTC)
                kept[:] = [e for e in kept if e.timestamp.date() != now.date()]
                kept.append(Entry(value, noon, comment, None, None))
            self.received.append(
                Received(kind, ident, value, now.date(), comment, "progress", credential)
            )
        if kind == "keyres":
            return _text(200, f"Updated key result ({ident}) with progress: {js_number(value)}")
        data = {"value": value, **({"comment": comment} if comment else {})}
        return _text(200, f"Updated progression on {now.date()} with: {_stringify(data)}")

    def _get_keyres(self, request: Request) -> Response:
        ident = escape(unquote(request.params["id"]).strip())
        item = self.items["keyres"].get(ident)
        if item is None:
            return _text(404, f"Could not find key result with ID: {ident}")
        entries = self.entries("keyres", ident)
        current = entries[-1].value if entries else item.start
        span = item.target - item.start
        progression = min(1.0, max(0.0, (current - item.start) / span)) if span else 0.0
        listed = [e for e in entries if e.archived is False]  # where('archived', '==', false)
        last = listed[-1] if listed else None
        created = datetime(2026, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", ".000Z")
        return Response.json(
            {
                "currentValue": current,
                "description": item.name,
                "edited": created,
                "created": created,
                "notes": "",
                "progression": progression,
                "editedBy": "Demo User",
                "createdBy": "Demo User",
                "objective": "Demo objective",
                "lastUpdated": None
                if last is None
                else {
                    "value": last.value,
                    "timestamp": last.timestamp.isoformat().replace("+00:00", "Z"),
                    "comment": last.comment or "",
                    "createdBy": last.created_by,
                },
            }
        )

    def _kpi_values(self, request: Request) -> Response:
        ident = escape(unquote(request.params["id"]).strip())
        if ident not in self.items["kpi"]:
            return _text(404, f"Could not find KPI with ID: {ident}")
        out = [
            {"value": e.value, "date": e.timestamp.date().isoformat(), "comment": e.comment}
            for e in reversed(self.entries("kpi", ident))
        ]
        return Response.json(out)

    # -- express.json and express-validator ----------------------------------------

    def _body(self, request: Request) -> dict[str, Any] | Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return {}  # express.json leaves req.body empty
        if not request.body:
            return {}
        try:
            data = json.loads(request.body)
        except ValueError:
            return _text(400, "<pre>SyntaxError: Unexpected token in JSON</pre>")
        return data if isinstance(data, dict) else {}

    def _credentials(self, request: Request, errors: dict[str, Any]) -> None:
        """``oneOf([okr-team-secret], [okr-client-id, okr-client-secret])``."""

        def missing(name: str) -> dict[str, Any] | None:
            if request.headers.get(name):
                return None
            return {
                "type": "field",
                "msg": f"The `{name}` header is required",
                "path": name,
                "location": "headers",
            }

        team = [e for e in [missing("okr-team-secret")] if e]
        client = [e for e in (missing("okr-client-id"), missing("okr-client-secret")) if e]
        if team and client:
            errors["_alternative_grouped"] = {
                "type": "alternative_grouped",
                "msg": CREDENTIALS,
                "nestedErrors": [team, client],
            }

    def _date(self, raw: str, errors: dict[str, Any]) -> date | None:
        text = raw.strip()
        match = DATE.fullmatch(text)
        day: date | None = None
        if match:
            try:
                day = date(int(match[1]), int(match[3]), int(match[4]))
            except ValueError:
                day = None
        if day is None:
            errors.setdefault(
                "date",
                {
                    "type": "field",
                    "value": text,
                    "msg": "Invalid value",
                    "path": "date",
                    "location": "params",
                },
            )
            return None
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if midnight > self.now():
            errors.setdefault(
                "date",
                {
                    "type": "field",
                    "value": midnight.isoformat().replace("+00:00", ".000Z"),
                    "msg": "Future dates not allowed",
                    "path": "date",
                    "location": "params",
                },
            )
            return None
        return day

    def _measurement(
        self, body: Mapping[str, Any], name: str, errors: dict[str, Any]
    ) -> float | None:
        """``not().isEmpty().withMessage('Required field').isFloat({min: 0}).toFloat()``."""
        raw = body.get(name)
        text = js_string(raw)
        base: dict[str, Any] = {"type": "field"}
        if raw is not None:
            base["value"] = raw
        if text == "":
            errors.setdefault(
                name, {**base, "msg": "Required field", "path": name, "location": "body"}
            )
            return None
        number: float | None = None
        if FLOAT.fullmatch(text) and text not in (".", "-", "+") and re.search(r"\d", text):
            number = float(text)
        if number is None or not math.isfinite(number) or number < 0:
            errors.setdefault(
                name, {**base, "msg": "Invalid value", "path": name, "location": "body"}
            )
            return None
        return number

    def _comment(self, body: Mapping[str, Any]) -> str | None:
        text = escape(js_string(body.get("comment")).strip())
        return text or None

    def _check_auth(self, request: Request, item: Item) -> tuple[Response | None, str]:
        """``checkApiAuth``: the API client if both its headers are given, else the team secret."""
        owner = self.owners.get(item.owner, Owner(item.owner))
        client_id = request.headers.get("okr-client-id", "")
        client_secret = request.headers.get("okr-client-secret", "")
        if client_id and client_secret:
            newest = owner.clients.get(client_id)
            if newest is None:
                return _error(
                    401,
                    f"No API client `{client_id}` exists for '{owner.name}'. Please create one "
                    "in the OKR Tracker integrations admin.",
                ), ""
            given = hashlib.sha256(client_secret.encode()).hexdigest()
            stored = hashlib.sha256(newest.encode()).hexdigest()
            if not hmac.compare_digest(given, stored):
                return _error(
                    401,
                    f"Invalid client secret provided for API client `{client_id}`. Check the "
                    "OKR Tracker integrations admin for how to rotate the secret.",
                ), ""
            return None, f"client:{client_id}"
        if not owner.team_secret:
            return _error(
                401,
                f"'{owner.name}' is not set up for API usage. Please set a secret through the "
                "OKR Tracker integrations admin.",
            ), ""
        given_team = request.headers.get("okr-team-secret", "")
        if not hmac.compare_digest(given_team.encode(), owner.team_secret.encode()):
            return _error(401, "Wrong `okr-team-secret`"), ""
        return None, "team"


__all__ = [
    "DEMO_API_KEY",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_KEY_RESULT",
    "DEMO_KPI",
    "DEMO_PARENT",
    "DEMO_TEAM_SECRET",
    "Entry",
    "Item",
    "OkrTrackerSimulator",
    "Owner",
    "Received",
]
