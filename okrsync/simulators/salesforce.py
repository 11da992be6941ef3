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

The data is seeded and deterministic: Opportunities closing across 2026 (won or lost
once their CloseDate is past ``today``, a few soft-deleted), Accounts and one report.
The SOQL evaluator takes ``SELECT COUNT() | agg(f) [alias], … | f1, f2 FROM X
[WHERE a op v AND …]`` and answers everything else with the error the real API
gives (INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR) or
MALFORMED_QUERY: it never makes up an answer.

simple-salesforce only speaks https, so ``start()`` makes a throw-away trustme CA;
connections trust it with ``ca_bundle: <sim.ca_file>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import operator
import random
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from okrsync.simulators.server import FakeServer, Request, Response

DEMO_USERNAME = "demo@okrsync.example"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - published, accepted only by the simulator
DEMO_SECURITY_TOKEN = "demoSecurityToken0"  # noqa: S105 - same
DEMO_CONSUMER_KEY = "3MVG9okrsync.demo.consumer.key"
DEMO_CONSUMER_SECRET = "demo-consumer-secret"  # noqa: S105 - same
REPORT_ID = "00OSIM000000000001"
REPORT_NAME = "Won opportunities 2026"
ORG_ID = "00DSIM000000000001"
MAX_BATCH = 25


def _schema(text: str) -> dict[str, str]:
    return {name: kind for name, _, kind in (f.partition(":") for f in text.split())}


_TYPES = {  # field → SOQL type, per sObject
    "Opportunity": _schema(
        "Id:id Name:string Amount:double IsWon:boolean IsClosed:boolean IsDeleted:boolean"
        " CloseDate:date CreatedDate:datetime StageName:string AccountId:id Product_Family__c:string"
    ),
    "Account": _schema(
        "Id:id Name:string Industry:string Type:string AnnualRevenue:double IsDeleted:boolean"
        " CreatedDate:datetime"
    ),
}
_LITERAL_KIND = {"id": "str", "string": "str", "double": "num", "date": "date", "datetime": "dt"}
_AGGREGATES = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
_RESERVED = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "GROUP", "ORDER"}
_RESERVED |= {"BY", "LIMIT", "OFFSET", "HAVING", "WITH", "USING", "TYPEOF", "INCLUDES", "FOR"}
_RESERVED |= {"EXCLUDES", "ASC", "DESC", "NULLS"}
_OPS: dict[str, Callable[[Any, Any], bool]] = dict(
    zip(
        ["=", "!=", "<>", "<", "<=", ">", ">="],
        [operator.eq, operator.ne, operator.ne, operator.lt, operator.le, operator.gt, operator.ge],
        strict=True,
    )
)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?(?:Z|[+-]\d\d:?\d\d))
    | (?P<date>\d{4}-\d\d-\d\d)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    | (?P<name>[A-Za-z_][\w.]*)
    )""",
    re.X,
)


class SoqlError(Exception):
    """A query the API refuses: 400 ``[{"errorCode", "message"}]``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _malformed(message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message)


@dataclass(frozen=True)
class _Item:
    func: str | None  # None: a plain field
    field: str | None  # None: COUNT()
    alias: str | None


@dataclass(frozen=True)
class _Cond:
    field: str
    op: str
    literal: tuple[str, str]


class _Parser:
    def __init__(self, soql: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        text, pos = soql.rstrip(), 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                raise _malformed(f"unexpected token: '{text[pos:].split()[0]}'")
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _malformed("unexpected end of query")
        self.i += 1
        return token

    def word(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "name" and token[1].upper() == word:
            self.i += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.peek() == ("punct", char):
            self.i += 1
            return True
        return False

    def name(self) -> str:
        kind, text = self.take()
        if kind != "name" or text.upper() in _RESERVED:
            raise _malformed(f"unexpected token: '{text}'")
        return text

    def item(self) -> _Item:
        name = self.name()
        if not self.punct("("):
            return _Item(None, name, None)
        func = name.upper()
        if func not in _AGGREGATES:
            raise _malformed(f"unsupported function {name}() (the simulator knows {_AGGREGATES})")
        field = None if self.punct(")") else self.name()
        if field is not None and not self.punct(")"):
            raise _malformed(f"unexpected token: '{self.take()[1]}'")
        if field is None and func != "COUNT":
            raise _malformed(f"{func}() needs a field")
        token = self.peek()
        alias = None
        if token is not None and token[0] == "name" and token[1].upper() not in _RESERVED:
            alias = self.take()[1]
        return _Item(func, field, alias)

    def cond(self) -> _Cond:
        field = self.name()
        kind, op = self.take()
        if kind != "op":
            raise _malformed(f"unexpected token: '{op}'")
        return _Cond(field, op, self.take())


def parse(soql: str) -> tuple[list[_Item], str, list[_Cond]]:
    """(select items, sObject, AND-ed conditions) or SoqlError."""
    p = _Parser(soql)
    if not p.word("SELECT"):
        raise _malformed(f"unexpected token: '{p.take()[1]}'")
    items = [p.item()]
    while p.punct(","):
        items.append(p.item())
    if not p.word("FROM"):
        raise _malformed(f"unexpected token: '{p.take()[1]}'")
    sobject = p.name()
    conds = []
    if p.word("WHERE"):
        conds.append(p.cond())
        while p.word("AND"):
            conds.append(p.cond())
    rest = p.peek()
    if rest is not None:
        word = rest[1]
        if word.upper() in _RESERVED:
            raise _malformed(f"unexpected token: '{word}' (not supported by the simulator)")
        raise _malformed(f"unexpected token: '{word}'")
    if any(i.func == "COUNT" and i.field is None for i in items) and len(items) > 1:
        raise _malformed("COUNT() must be the only element in the SELECT list")
    return items, sobject, conds


def _soql_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _out(value: Any) -> Any:
    if isinstance(value, datetime):
        return _soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _seed(seed: int, opportunities: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)  # noqa: S311 - deterministic demo data, not security
    words = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay"]
    kinds = ["Systems", "Labs", "Foods", "Logistics", "Health", "Bank", "Media", "Energy"]
    accounts = [
        {
            "Id": f"001SIM{n:012d}",
            "Name": f"{words[n % 8]} {kinds[(n // 8) % 8]}",
            "Industry": rng.choice(["Technology", "Retail", "Finance", "Healthcare"]),
            "Type": rng.choice(["Customer - Direct", "Customer - Channel", "Prospect"]),
            "AnnualRevenue": float(rng.randrange(1, 500) * 100_000),
            "IsDeleted": False,
            "CreatedDate": datetime(2024, 1, 1, 9, tzinfo=UTC) + timedelta(days=n * 7),
        }
        for n in range(60)
    ]
    opps = []
    for n in range(opportunities):
        close = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        account = accounts[rng.randrange(len(accounts))]
        family = "New" if rng.random() < 0.4 else "Core"
        amount = None if rng.random() < 0.02 else float(rng.randrange(20, 800) * 500)
        created = datetime.combine(close, datetime.min.time(), UTC) - timedelta(
            days=rng.randrange(20, 160), minutes=n
        )
        opps.append(
            {
                "Id": f"006SIM{n:012d}",
                "Name": f"{account['Name']} - {family} {n}",
                "Amount": amount,
                "CloseDate": close,
                "CreatedDate": created,
                "AccountId": account["Id"],
                "Product_Family__c": family,
                "IsDeleted": rng.random() < 0.03,
                "_wins": rng.random() < 0.55,
                "_stage": rng.choice(["Prospecting", "Qualification", "Proposal", "Negotiation"]),
            }
        )
    return opps, accounts


def _utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class _App:
    secret: str | None
    public_key: bytes | None  # PEM, for JWT bearer
    run_as: str | None  # the client-credentials user


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
        self._opps, self._accounts = _seed(seed, opportunities)
        self._users: dict[str, str] = {}  # username → password + security token
        self._apps: dict[str, _App] = {}
        self._sessions: dict[str, str] = {}  # session id → username
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._cursor_count = 0
        self._state = threading.Lock()
        self._tmp: Path | None = None
        self.add_user(DEMO_USERNAME, DEMO_PASSWORD, DEMO_SECURITY_TOKEN)
        self.add_app(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, run_as=DEMO_USERNAME)
        data = r"/services/data/v(?P<ver>\d+\.\d)"
        self.route("POST", r"(?:/.*)?/services/Soap/u/(?P<ver>\d+\.\d)", self._soap_login)
        self.route("POST", r"(?:/.*)?/services/oauth2/token", self._token)
        self.route("GET", data + r"/(?P<kind>query|queryAll)/?", self._rest(self._query))
        self.route(
            "GET", data + r"/(?P<kind>query|queryAll)/(?P<loc>01g[\w-]+)", self._rest(self._more)
        )
        self.route("POST", data + r"/composite/batch/?", self._rest(self._batch, cost=0))
        self.route("GET", data + r"/analytics/reports/(?P<id>\w+)/?", self._rest(self._report))

    # -- set-up for tests ----------------------------------------------------

    def add_user(self, username: str, password: str, security_token: str) -> None:
        self._users[username] = password + security_token

    def add_app(
        self,
        consumer_key: str,
        consumer_secret: str | None = None,
        *,
        public_key: bytes | None = None,
        run_as: str | None = None,
    ) -> None:
        """A connected app; ``public_key`` (PEM) enables JWT bearer for it."""
        self._apps[consumer_key] = _App(consumer_secret, public_key, run_as)

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
        """Rows as SOQL sees them today (dates as date/datetime objects)."""
        if sobject == "Account":
            rows = [dict(a) for a in self._accounts]
        else:
            today, rows = self.today(), []
            for o in self._opps:
                closed = o["CloseDate"] <= today
                won = closed and o["_wins"]
                stage = ("Closed Won" if won else "Closed Lost") if closed else o["_stage"]
                row = {k: v for k, v in o.items() if not k.startswith("_")}
                rows.append(row | {"IsClosed": closed, "IsWon": won, "StageName": stage})
        return [r for r in rows if include_deleted or not r["IsDeleted"]]

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

    # -- login ----------------------------------------------------------------

    def _soap_login(self, request: Request) -> Response:
        try:
            root = ET.fromstring(request.body)  # noqa: S314 - our own client's XML
        except ET.ParseError:
            return _soap_fault("INVALID_SOAP", "could not parse the request")
        found = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        username, password = found.get("username", ""), found.get("password", "")
        expected = self._users.get(username)
        if expected is None or not hmac.compare_digest(expected, password):
            return _soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        ver, sid = request.params["ver"], self.new_session(username)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{self.url}/services/Soap/m/{ver}/{ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{self.url}/services/Soap/u/{ver}/{ORG_ID}</serverUrl>"
            f"<sessionId>{escape(sid)}</sessionId><userId>005SIM000000000001</userId>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(200, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})

    def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            key, secret = _basic(request.headers.get("authorization", ""))
            app = self._apps.get(key)
            if app is None or app.secret is None or not hmac.compare_digest(app.secret, secret):
                return _oauth_error("invalid_client", "invalid client credentials")
            if app.run_as is None:
                return _oauth_error("invalid_grant", "no client credentials user enabled")
            return self._token_reply(app.run_as)
        if grant == "password":
            app = self._apps.get(form.get("client_id", ""))
            if app is None or app.secret != form.get("client_secret"):
                return _oauth_error("invalid_client", "invalid client credentials")
            expected = self._users.get(form.get("username", ""))
            if expected is None or form.get("password") != expected:
                return _oauth_error("invalid_grant", "authentication failure")
            return self._token_reply(form["username"])
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            prefix = request.path.removesuffix("/services/oauth2/token")
            audience = f"https://{request.headers.get('host', '')}{prefix}"
            return self._jwt(form.get("assertion", ""), audience)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt(self, assertion: str, audience: str) -> Response:
        import jwt  # PyJWT comes with simple-salesforce

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            app = self._apps.get(str(claims.get("iss")))
            if app is None or app.public_key is None:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            claims = jwt.decode(
                assertion,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iss": False},
            )
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("aud") != audience:
            return _oauth_error("invalid_grant", "audience is invalid")
        exp = claims.get("exp")  # simple-salesforce sends a string; both forms are accepted
        if not str(exp).isdigit() or not time.time() < int(str(exp)) <= time.time() + 300:
            return _oauth_error("invalid_grant", "expired authorization code")
        username = str(claims.get("sub"))
        if username not in self._users:
            return _oauth_error("invalid_grant", "user hasn't been approved")
        return self._token_reply(username)

    def _token_reply(self, username: str) -> Response:
        sid, issued = self.new_session(username), str(int(time.time() * 1000))
        ident = f"{self.url}/id/{ORG_ID}/005SIM000000000001"
        mac = hmac.new(b"simulator", f"{ident}{issued}".encode(), hashlib.sha256).digest()
        return Response.json(
            {
                "access_token": sid,
                "instance_url": self.url,
                "id": ident,
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": base64.b64encode(mac).decode(),
                "scope": "api",
            }
        )

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
        items, sobject, conds = parse(soql)
        name = next((n for n in _TYPES if n.lower() == sobject.lower()), None)
        if name is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        types = _TYPES[name]
        tests = [self._test(name, types, c) for c in conds]
        rows = [
            r
            for r in self.records(name, include_deleted=include_deleted)
            if all(t(r) for t in tests)
        ]
        if items[0].func == "COUNT" and items[0].field is None:
            return {"totalSize": len(rows), "done": True, "records": []}
        if any(i.func for i in items):
            plain = next((i for i in items if i.func is None), None)
            if plain is not None:
                raise _malformed(f"Field must be grouped or aggregated: {plain.field}")
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            unnamed = 0
            for item in items:
                key = item.alias or f"expr{unnamed}"
                unnamed += item.alias is None
                record[key] = _aggregate(item, name, types, rows)
            return {"totalSize": 1, "done": True, "records": [record]}
        fields = [_field(name, types, i.field or "") for i in items]
        out = [
            {
                "attributes": {
                    "type": name,
                    "url": f"/services/data/v{ver}/sobjects/{name}/{r['Id']}",
                }
            }
            | {f: _out(r[f]) for f in fields}
            for r in rows
        ]
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

    def _test(self, sobject: str, types: dict[str, str], cond: _Cond) -> Callable[[Any], bool]:
        field = _field(sobject, types, cond.field)
        ftype, (kind, text) = types[field], cond.literal
        literal: Any
        if kind == "name" and text.lower() == "null":
            if cond.op not in ("=", "!=", "<>"):
                raise _malformed(f"invalid operator {cond.op} with null")
            want_null = cond.op == "="
            return lambda row: (row[field] is None) == want_null
        if kind == "name" and text.lower() in ("true", "false"):
            kind, literal = "bool", text.lower() == "true"
        elif kind in ("name", "op", "punct"):
            raise _malformed(
                f"unexpected token: '{text}' (date literals such as THIS_QUARTER and functions are not supported by the simulator)"
            )
        if _LITERAL_KIND.get(ftype, "bool") != kind:
            quoted = "" if ftype in ("id", "string") else "not "
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{field}' must be of type "
                f"{ftype.replace('datetime', 'dateTime')} and should {quoted}be enclosed in quotes",
            )
        if ftype == "boolean" and cond.op not in ("=", "!=", "<>"):
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on boolean field '{field}'"
            )
        try:
            literal = _literal(kind, text) if kind != "bool" else literal
        except ValueError:
            raise _malformed(f"invalid {kind} literal: {text}") from None
        compare = _OPS[cond.op]
        fold = ftype in ("id", "string")  # SOQL string comparison ignores case

        def test(row: Any) -> bool:
            value = row[field]
            if value is None:
                return compare is operator.ne
            if fold:
                return compare(str(value).lower(), str(literal).lower())
            return compare(value, literal)

        return test

    # -- reports -------------------------------------------------------------------

    def run_report(
        self, report_id: str, ver: str = "62.0", details: bool = False
    ) -> tuple[int, Any]:
        if report_id not in (REPORT_ID, REPORT_ID[:15]):
            return 404, [
                {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
            ]
        rows = [r for r in self.records("Opportunity") if r["IsWon"]]
        total = sum(r["Amount"] for r in rows if r["Amount"] is not None)
        fact: dict[str, Any] = {
            "aggregates": [
                {"label": f"USD {total:,.2f}", "value": total},
                {"label": f"{len(rows):,}", "value": len(rows)},
            ]
        }
        if details:
            fact["rows"] = [
                {
                    "dataCells": [
                        {"label": r["Name"], "value": r["Id"]},
                        {"label": f"USD {r['Amount'] or 0:,.2f}", "value": r["Amount"]},
                    ]
                }
                for r in rows
            ]
        meta = {
            "id": REPORT_ID,
            "name": REPORT_NAME,
            "reportFormat": "TABULAR",
            "aggregates": ["s!Amount", "RowCount"],
            "detailColumns": ["OPPORTUNITY_NAME", "AMOUNT"],
            "reportType": {"type": "Opportunity", "label": "Opportunities"},
        }
        columns = {
            "s!Amount": {
                "label": "Sum of Amount",
                "dataType": "currency",
                "acrossGroupingContext": None,
                "downGroupingContext": None,
            },
            "RowCount": {
                "label": "Record Count",
                "dataType": "int",
                "acrossGroupingContext": None,
                "downGroupingContext": None,
            },
        }
        base = f"/services/data/v{ver}/analytics/reports/{REPORT_ID}"
        return 200, {
            "attributes": {
                "type": "Report",
                "reportId": REPORT_ID,
                "reportName": REPORT_NAME,
                "describeUrl": f"{base}/describe",
                "instancesUrl": f"{base}/instances",
            },
            "allData": True,
            "hasDetailRows": details,
            "reportMetadata": meta,
            "reportExtendedMetadata": {"aggregateColumnInfo": columns},
            "factMap": {"T!T": fact},
            "groupingsDown": {"groupings": []},
            "groupingsAcross": {"groupings": []},
        }


def _field(sobject: str, types: dict[str, str], name: str) -> str:
    if "." in name:
        raise _malformed(f"relationship fields like {name} are not supported by the simulator")
    found = next((f for f in types if f.lower() == name.lower()), None)
    if found is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name.",
        )
    return found


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "num":
        return float(text)
    if kind == "date":
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _aggregate(item: _Item, sobject: str, types: dict[str, str], rows: list[Any]) -> Any:
    field = _field(sobject, types, item.field or "Id")
    values = [r[field] for r in rows if r[field] is not None]
    if item.func == "COUNT":
        return len(values)
    if item.func == "COUNT_DISTINCT":
        return len(set(values))
    numeric = types[field] == "double"
    if (item.func in ("SUM", "AVG") and not numeric) or types[field] == "boolean":
        raise _malformed(f"field {field} does not support aggregate operator {item.func}")
    if not values:
        return None
    if item.func == "SUM":
        return float(sum(values))
    if item.func == "AVG":
        return float(sum(values)) / len(values)
    return _out(min(values) if item.func == "MIN" else max(values))


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})


def _oauth_error(error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, 400)


def _limit_error() -> list[dict[str, str]]:
    return [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        key, _, secret = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return "", ""
    return key, secret


@dataclass(frozen=True)
class SalesforceDemo:
    """What ``okrsync demo`` needs to point a salesforce connection at the simulator."""

    environ: dict[str, str]  # the secrets the example connections.yaml names
    overrides: dict[str, Any]  # settings.model_copy(update=overrides)


def start_demo(
    *, today: Callable[[], date] = _utc_today
) -> tuple[SalesforceSimulator, SalesforceDemo]:
    """A started simulator and the demo login (password + security token flow)."""
    sim = SalesforceSimulator(today=today).start()
    environ = {"SF_PASSWORD": DEMO_PASSWORD, "SF_SECURITY_TOKEN": DEMO_SECURITY_TOKEN}
    overrides = {"username": DEMO_USERNAME, **sim.connection_overrides()}
    return sim, SalesforceDemo(environ, overrides)


__all__ = [
    "DEMO_CONSUMER_KEY",
    "DEMO_CONSUMER_SECRET",
    "DEMO_PASSWORD",
    "DEMO_SECURITY_TOKEN",
    "DEMO_USERNAME",
    "REPORT_ID",
    "SalesforceDemo",
    "SalesforceSimulator",
    "SoqlError",
    "parse",
    "start_demo",
]
