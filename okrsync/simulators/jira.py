"""A Jira Cloud or Data Center site on 127.0.0.1, speaking what the ``jira`` 3.10.5 client calls.

Endpoints (``/rest/api/2/…`` and ``/rest/api/3/…``), as in PROTOCOLS.md:

    GET  serverInfo                  deploymentType "Cloud" / "Server", versionNumbers
    GET  field                       system fields, Story Points (customfield_10016), DC Epic Link
    GET  issue/{key}                 404 in Jira's words when missing
    Cloud: GET|POST search/jql       nextPageToken paging, no total, only ids without ``fields``,
                                     400 for unbounded JQL; POST search/approximate-count;
                                     GET|POST search is gone (410)
    DC:    GET|POST search           startAt / maxResults / total / isLast echoed

Auth: Cloud takes Basic ``email:token``, Data Center a Bearer personal access
token; anything else is 401. Page sizes follow Jira's limits: Cloud returns up
to 5000 issues a page when only ids are asked for, else 100 (default 50); Data
Center up to 1000 (default 50). The data is seeded and laid out relative to
``today`` (injectable): project SUP holds ~180 support tickets created over the
last 120 days; project PROD holds 100 stories with Story Points, epic PROD-101
with 12 children (7 done), milestones PROD-200 "Launch 2.0" (unresolved) and
PROD-201 (resolved). A small JQL parser (:func:`parse_jql`) evaluates queries;
what it does not know is a 400 in Jira's words, never a made-up answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import random
import re
import ssl
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from okrsync.simulators.server import FakeServer, Request, Response

Flavor = Literal["cloud", "datacenter"]
DEMO_EMAIL = "demo@example.com"
DEMO_TOKEN = "jira-demo-token-4b1d"  # noqa: S105 - published, accepted only by the simulator
STORY_POINTS = "customfield_10016"
EPIC_LINK = "customfield_10014"
CLOUD_ID_PAGE, CLOUD_FIELDS_PAGE, DC_PAGE, DEFAULT_PAGE = 5000, 100, 1000, 50
EPIC, EPIC_CHILDREN, EPIC_DONE = "PROD-101", 12, 7

_CATEGORIES = {"new": (2, "To Do"), "indeterminate": (4, "In Progress"), "done": (3, "Done")}
_STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
_PROJECTS = {"SUP": "Support", "PROD": "Product"}
# fmt: off
_FIELDS = {  # JQL clause name, lower case → what it compares
    "project": "project", "type": "type", "issuetype": "type", "status": "status",
    "statuscategory": "category", "resolution": "resolution", "created": "created",
    "createddate": "created", "resolved": "resolved", "resolutiondate": "resolved",
    "key": "key", "issuekey": "key", "parent": "parent", "summary": "summary",
    "story points": "points", "cf[10016]": "points", "epic link": "epic", "cf[10014]": "epic",
}
_VALUES: dict[str, Mapping[str, str | None]] = {  # field → accepted value (lower case) → canonical
    "project": {k.lower(): k for k in _PROJECTS} | {v.lower(): k for k, v in _PROJECTS.items()},
    "type": {t: t for t in ("story", "bug", "task", "epic", "sub-task")},
    "status": {s.lower(): s.lower() for s in _STATUSES},
    "category": {k: k for k in _CATEGORIES} | {v[1].lower(): k for k, v in _CATEGORIES.items()}
    | {str(v[0]): k for k, v in _CATEGORIES.items()},
    "resolution": {"unresolved": None, "done": "done"},
}
_FIELD_TABLE = [  # id, name, clause names, schema type
    ("summary", "Summary", "summary", "string"), ("status", "Status", "status", "status"),
    ("resolution", "Resolution", "resolution", "resolution"),
    ("resolutiondate", "Resolved", "resolutiondate resolved", "datetime"),
    ("created", "Created", "created createdDate", "datetime"),
    ("issuetype", "Issue Type", "issuetype type", "issuetype"),
    ("project", "Project", "project", "project"),
    (STORY_POINTS, "Story Points", "cf[10016] Story_Points", "number"),
    ("customfield_10020", "Team", "cf[10020] Team", "string"),
]
# fmt: on
_UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
_NO_ISSUE = "Issue does not exist or you do not have permission to see it."
_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
    "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
_DATE_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', "
    "'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)


class JqlError(ValueError):
    """A query Jira would refuse with 400; the message is Jira's."""


def _syntax(text: str) -> JqlError:
    return JqlError(f"Error in the JQL Query: {text}")


@dataclass
class Issue:
    id: int
    key: str
    project: str
    type: str
    summary: str
    status: str
    created: datetime
    resolved: datetime | None = None
    points: float | None = None
    epic: str | None = None  # Cloud: fields.parent; Data Center: the Epic Link field

    @property
    def category(self) -> str:
        return _STATUSES[self.status]

    @property
    def resolution(self) -> str | None:
        return "Done" if self.resolved is not None else None


def _utc_today() -> date:
    return datetime.now(UTC).date()


def build_issues(seed: int, today: date) -> dict[str, Issue]:
    """The seeded data set, laid out relative to ``today``."""
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    issues: dict[str, Issue] = {}

    def add(key: str, type_: str, status: str, summary: str, created: datetime, **kw: Any) -> None:
        project = key.split("-")[0]
        issues[key] = Issue(
            10000 + len(issues), key, project, type_, summary, status, created, **kw
        )

    def at(day: date) -> datetime:
        last = 11 if day == today else 17  # nothing later than the simulator's now()
        return datetime.combine(day, time(rng.randint(8, last), rng.randint(0, 59)), tzinfo=UTC)

    topics = ("Login fails", "Invoice wrong", "Export slow", "Password reset", "App crash")
    number = 0
    for back in range(119, -1, -1):  # ~2 tickets a day 120 days ago, ~1 a day now
        day = today - timedelta(days=back)
        for _ in range(int(1.0 + back / 120 + rng.random())):
            number += 1
            created = at(day)
            done = (back > 14 and rng.random() < 0.8) or rng.random() < 0.3
            resolved = created + timedelta(days=rng.randint(0, 5)) if done else None
            if resolved is not None and resolved.date() >= today:
                resolved = None
            status = "Done" if resolved else rng.choice(("To Do", "In Progress"))
            summary = f"{rng.choice(topics)} ({number})"
            add(f"SUP-{number}", rng.choice(("Bug", "Task")), status, summary, created, resolved=resolved)  # fmt: skip
    points = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, None)
    for n in range(1, 101):
        created = at(today - timedelta(days=rng.randint(10, 150)))
        status = rng.choices(("Done", "In Progress", "To Do"), (45, 25, 30))[0]
        resolved = created + timedelta(days=rng.randint(1, 9)) if status == "Done" else None
        add(f"PROD-{n}", "Story", status, f"Story {n}", created, resolved=resolved, points=rng.choice(points))  # fmt: skip
    start = at(today - timedelta(days=60))
    add(EPIC, "Epic", "In Progress", "Checkout redesign", start)
    for i in range(EPIC_CHILDREN):
        status = "Done" if i < EPIC_DONE else ("In Progress" if i < EPIC_DONE + 3 else "To Do")
        resolved = start + timedelta(days=3 + 4 * i) if status == "Done" else None
        add(f"PROD-{102 + i}", "Story", status, f"Checkout step {i + 1}", start,
            resolved=resolved, points=float(1 + i % 5), epic=EPIC)  # fmt: skip
    add("PROD-200", "Task", "In Progress", "Launch 2.0", start)
    add("PROD-201", "Task", "Done", "Run the customer beta program", start,
        resolved=start + timedelta(days=20))  # fmt: skip
    return issues


# -- JQL -----------------------------------------------------------------------

Predicate = Callable[[Issue], bool]
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|!~|=|>|<|~)"""
    r"""|(?P<punct>[(),])|(?P<word>[^\s"'(),=!<>~]+))"""
)
_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?")
_PERIOD = re.compile(r"([-+]?)(\d+)([wdhm])")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


@dataclass
class _Tok:
    kind: str  # str | op | punct | word
    text: str
    pos: int


def _tokens(jql: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while jql[pos:].strip():
        m = _TOKEN.match(jql, pos)
        if m is None or m.lastgroup is None:
            raise _syntax(f"The quoted string starting at character {pos + 1} is not closed.")
        kind, text = m.lastgroup, m.group(m.lastgroup)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append(_Tok(kind, text, m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    """``or := and (OR and)*``, ``and := unary (AND unary)*``, ``unary := NOT unary | (or) | clause``."""

    def __init__(self, sim: JiraSimulator, jql: str) -> None:
        self.sim, self.toks, self.i, self.clauses = sim, _tokens(jql), 0, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.upper() in words:
            self.i += 1
            return True
        return False

    def take(self, what: str, *texts: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _syntax(f"Expecting {what} but reached the end of the query.")
        if texts and not (tok.kind in ("punct", "op") and tok.text in texts):
            raise self.fail(tok, what)
        self.i += 1
        return tok

    def fail(self, tok: _Tok, expected: str) -> JqlError:
        where = f"(line 1, character {tok.pos})"
        return _syntax(f"Expecting {expected} but got '{tok.text}'. {where}")

    def parse(self) -> Predicate | None:
        pred = None
        tok = self.peek()
        if tok is not None and not (tok.kind == "word" and tok.text.upper() == "ORDER"):
            pred = self.or_expr()
        if self.keyword("ORDER"):
            if not self.keyword("BY"):
                raise self.fail(self.take("'by'"), "'by'")
            self.i = len(self.toks)  # sort order does not change a count
        if (tok := self.peek()) is not None:
            raise self.fail(tok, "either 'OR' or 'AND'")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("OR"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else lambda i: any(p(i) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("AND"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda i: all(p(i) for p in parts)

    def unary(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.unary()
            return lambda i: not inner(i)
        tok = self.take("a field name")
        if tok.kind == "punct" and tok.text == "(":
            inner = self.or_expr()
            self.take("')'", ")")
            return inner
        if tok.kind not in ("word", "str"):
            raise self.fail(tok, "a field name")
        return self.clause(tok)

    def clause(self, name: _Tok) -> Predicate:
        field = _FIELDS.get(name.text.lower())
        if field is None or (field == "epic" and self.sim.flavor == "cloud"):  # Cloud: parent
            raise JqlError(f"Field '{name.text}' does not exist or you do not have permission to view it.")  # fmt: skip
        self.clauses += 1
        get = self.sim.value
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            if not self.keyword("EMPTY", "NULL"):
                raise self.fail(self.take("'EMPTY'"), "'EMPTY' or 'NULL'")
            return lambda i: (get(i, field) is None) != negate
        negate = self.keyword("NOT")
        if negate or self.keyword("IN"):
            if negate and not self.keyword("IN"):
                raise self.fail(self.take("'IN'"), "'IN'")
            self.take("'('", "(")
            values = {self.value(field, name.text)}
            while self.take("',' or ')'", ",", ")").text == ",":
                values.add(self.value(field, name.text))
            return lambda i: (get(i, field) in values) != negate
        op = self.take("an operator", *_OPS, "~", "!~").text
        if op in ("~", "!~") or field == "summary":
            raise _syntax(f"the operator '{op}' on '{name.text}' is not supported by this simulator.")  # fmt: skip
        if op not in ("=", "!=") and field not in ("created", "resolved", "points"):
            raise _syntax(f"The operator '{op}' is not supported by the '{name.text}' field.")
        expected, test = self.value(field, name.text), _OPS[op]

        def pred(issue: Issue) -> bool:
            actual = get(issue, field)
            if actual is None or expected is None:  # = EMPTY matches empties; nothing else does
                return op == "=" and actual is None and expected is None
            return test(actual, expected)

        return pred

    def value(self, field: str, label: str) -> Any:
        tok = self.take("a value")
        if tok.kind not in ("word", "str"):
            raise self.fail(tok, "a value")
        nxt = self.peek()
        if tok.kind == "word" and nxt is not None and nxt.text == "(":
            self.i += 1
            args: list[str] = []
            while (arg := self.take("')'")).text != ")":
                if arg.text != ",":
                    args.append(arg.text)
            if field not in ("created", "resolved"):
                raise _syntax(f"the function '{tok.text}()' does not apply to '{label}'.")
            return self.sim.function(tok.text, args)
        return self.sim.literal(field, label, tok.text)


def parse_jql(sim: JiraSimulator, jql: str) -> tuple[Predicate | None, int]:
    """(predicate, or None for "everything"; number of clauses); JqlError means a 400."""
    parser = _Parser(sim, jql)
    return parser.parse(), parser.clauses


# -- the server ----------------------------------------------------------------


class JiraSimulator(FakeServer):
    """A seeded Jira site: ``flavor`` picks Cloud or Data Center endpoints, auth and fields."""

    def __init__(
        self,
        flavor: Flavor = "cloud",
        *,
        email: str | None = DEMO_EMAIL,  # None: any account, as long as the token is right
        token: str = DEMO_TOKEN,
        seed: int = 7,
        today: Callable[[], date] = _utc_today,
        latency: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(latency=latency, tls=tls)
        self.flavor: Flavor = flavor
        self.email, self.token, self.today = email, token, today
        self.issues = build_issues(seed, today())
        self.id_page_limit = CLOUD_ID_PAGE  # tests lower it to see several pages
        self.repeat_page_token = False  # a broken server: the same nextPageToken forever
        api = r"/rest/api/(?:2|3)/"
        self.route("GET", api + "serverInfo", self._server_info)
        self.route("GET", api + "field", lambda _r: Response.json(self.field_list()))
        self.route("GET", api + r"issue/(?P<key>[^/]+)", self._issue)
        for method in ("GET", "POST"):
            self.route(method, api + "search/jql", self._search_jql)
            self.route(method, api + "search", self._search)
        self.route("POST", api + "search/approximate-count", self._approximate)

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "").encode()
        if self.flavor == "cloud":
            try:
                user, _, secret = base64.b64decode(given.removeprefix(b"Basic ")).partition(b":")
            except binascii.Error:
                user, secret = b"", b""
            account = user.decode(errors="replace")
            if hmac.compare_digest(secret, self.token.encode()) and self.email in (None, account):
                return None
            body = b"Client must be authenticated to access this resource."
            return Response(401, body, {"Content-Type": "text/plain;charset=UTF-8"})
        if hmac.compare_digest(given, f"Bearer {self.token}".encode()):
            return None
        denied = "You are not authenticated. Authentication required to perform this operation."
        return _errors(401, denied, {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"})

    # -- what the JQL parser asks --------------------------------------------

    def now(self) -> datetime:
        return datetime.combine(self.today(), time(12, 0), tzinfo=UTC)

    def value(self, issue: Issue, field: str) -> Any:
        if field in ("parent", "epic"):  # Data Center's parent finds sub-tasks only
            return issue.epic if field == "epic" or self.flavor == "cloud" else None
        if field in ("type", "status", "resolution"):
            text: str | None = getattr(issue, field)
            return None if text is None else text.lower()
        return getattr(issue, field)

    def literal(self, field: str, label: str, text: str) -> Any:
        low = text.lower()
        if low in ("empty", "null"):
            return None
        if field in _VALUES:
            if low not in _VALUES[field]:
                raise JqlError(f"The value '{text}' does not exist for the field '{label}'.")
            return _VALUES[field][low]
        if field in ("created", "resolved"):
            return self._date(text, label)
        if field == "points":
            try:
                return float(text)
            except ValueError:
                raise JqlError(f"'{text}' is not a valid number for field '{label}'.") from None
        if text.upper() not in self.issues:  # key, parent, Epic Link
            raise JqlError(f"An issue with key '{text}' does not exist for field '{label}'.")
        return text.upper()

    def _date(self, text: str, label: str) -> datetime:
        if m := _DATE.fullmatch(text.strip()):
            y, mo, d, hh, mm = (int(g or 0) for g in m.groups())
            try:
                return datetime(y, mo, d, hh, mm, tzinfo=UTC)
            except ValueError:
                pass
        elif m := _PERIOD.fullmatch(text.strip()):
            sign, amount, unit = m.groups()
            units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
            delta = timedelta(**{units[unit]: int(amount)})
            return self.now() - delta if sign == "-" else self.now() + delta
        raise JqlError(f"Date value '{text}' for field '{label}' is invalid. {_DATE_HELP}")

    def function(self, name: str, args: list[str]) -> datetime:
        """``now()``, ``startOf|endOf`` + ``Day|Week|Month|Year``, with an optional whole offset."""
        match = re.fullmatch(r"(start|end)of(day|week|month|year)", name.lower())
        if name.lower() == "now" and not args:
            return self.now()
        if match is None:
            raise JqlError(f"Unable to find JQL function '{name}()'.")
        if len(args) > 1 or (args and not re.fullmatch(r"[-+]?\d+", args[0])):
            raise _syntax(f"this simulator takes only a whole-number offset in '{name}()'.")
        offset = int(args[0]) if args else 0
        edge, unit, today = match[1], match[2], self.today()
        if unit == "day":
            start = today + timedelta(days=offset)
            nxt = start + timedelta(days=1)
        elif unit == "week":  # Jira weeks start on Sunday
            start = today - timedelta(days=(today.weekday() + 1) % 7) + timedelta(weeks=offset)
            nxt = start + timedelta(weeks=1)
        elif unit == "month":
            months = today.year * 12 + today.month - 1 + offset
            start = date(months // 12, months % 12 + 1, 1)
            nxt = date((months + 1) // 12, (months + 1) % 12 + 1, 1)
        else:
            start, nxt = date(today.year + offset, 1, 1), date(today.year + offset + 1, 1, 1)
        if edge == "start":
            return datetime.combine(start, time.min, tzinfo=UTC)
        return datetime.combine(nxt, time.min, tzinfo=UTC) - timedelta(milliseconds=1)

    def matching(self, jql: str, *, bounded: bool) -> list[Issue]:
        """Issues matching ``jql``, newest first (Jira's default order); JqlError for a 400."""
        pred, clauses = parse_jql(self, jql)
        if bounded and clauses == 0:
            raise JqlError(_UNBOUNDED)
        found = [i for i in self.issues.values() if pred is None or pred(i)]
        return sorted(found, key=lambda i: i.id, reverse=True)

    # -- JSON ----------------------------------------------------------------

    def field_list(self) -> list[dict[str, Any]]:
        table = [*_FIELD_TABLE]
        if self.flavor == "cloud":
            table.append(("parent", "Parent", "parent", "issuelink"))
        else:
            table.append((EPIC_LINK, "Epic Link", "cf[10014] Epic_Link", "any"))
        return [
            {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": fid.startswith("customfield_"),
                "navigable": True,
                "searchable": True,
                "schema": {"type": kind},
                "clauseNames": [c.replace("_", " ") for c in clauses.split()],
            }
            for fid, name, clauses, kind in table
        ]

    def issue_json(self, issue: Issue, wanted: set[str] | None) -> dict[str, Any]:
        """The issue as Jira sends it; ``wanted`` None means every field."""
        cid, cname = _CATEGORIES[issue.category]
        category = {"id": cid, "key": issue.category, "name": cname}
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "status": {"name": issue.status, "statusCategory": category},
            "resolution": None if issue.resolution is None else {"name": issue.resolution},
            "resolutiondate": _stamp(issue.resolved),
            "created": _stamp(issue.created),
            "issuetype": {"name": issue.type, "subtask": issue.type == "Sub-task"},
            "project": {"key": issue.project, "name": _PROJECTS[issue.project]},
            STORY_POINTS: issue.points,
            "customfield_10020": "Payments" if issue.project == "PROD" else None,
        }
        if self.flavor == "datacenter":
            fields[EPIC_LINK] = issue.epic
        elif issue.epic is not None:
            epic = self.issue_json(self.issues[issue.epic], {"summary", "status"})
            fields["parent"] = {k: epic[k] for k in ("id", "key", "fields")}
        if wanted is not None:
            fields = {k: v for k, v in fields.items() if k in wanted}
        link = f"{self.url}/rest/api/2/issue/{issue.id}"
        return {"id": str(issue.id), "key": issue.key, "self": link, "fields": fields}

    # -- handlers --------------------------------------------------------------

    def _server_info(self, _request: Request) -> Response:
        cloud = self.flavor == "cloud"
        return Response.json({
            "baseUrl": self.url, "serverTitle": "Jira",
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
            "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 15],
            "deploymentType": "Cloud" if cloud else "Server",
        })  # fmt: skip

    def _issue(self, request: Request) -> Response:
        key = request.params["key"].upper()
        issue = self.issues.get(key) or next(
            (i for i in self.issues.values() if str(i.id) == key), None
        )
        if issue is None:
            return _errors(404, _NO_ISSUE)
        return Response.json(self.issue_json(issue, _wanted(request.query.get("fields"))))

    def _search_jql(self, request: Request) -> Response:
        if self.flavor == "datacenter":
            return _not_found(request)
        params = _params(request)
        jql = str(params.get("jql") or "")
        wanted = _wanted(params.get("fields") or "id")
        try:
            found = self.matching(jql, bounded=True)
            limit = _int(params.get("maxResults"), DEFAULT_PAGE, "maxResults")
            offset = _decode_token(params.get("nextPageToken"), jql)
        except JqlError as exc:
            return _errors(400, str(exc))
        ids_only = wanted is not None and wanted <= {"id", "key"}
        size = max(1, min(limit, self.id_page_limit if ids_only else CLOUD_FIELDS_PAGE))
        page = found[offset : offset + size]
        if ids_only:
            issues: list[dict[str, Any]] = [
                {"id": str(i.id), **({"key": i.key} if "key" in (wanted or ()) else {})}
                for i in page
            ]
        else:
            issues = [self.issue_json(i, wanted) for i in page]
        body: dict[str, Any] = {"issues": issues, "isLast": offset + size >= len(found)}
        if self.repeat_page_token:
            body.update(isLast=False, nextPageToken=_encode_token(size, jql))
        elif not body["isLast"]:
            body["nextPageToken"] = _encode_token(offset + size, jql)
        return Response.json(body)

    def _approximate(self, request: Request) -> Response:
        if self.flavor == "datacenter":
            return _not_found(request)
        try:
            return Response.json({"count": len(self.matching(_params(request).get("jql") or "", bounded=True))})  # fmt: skip
        except JqlError as exc:
            return _errors(400, str(exc))

    def _search(self, request: Request) -> Response:
        if self.flavor == "cloud":
            return _errors(410, _GONE)
        params = _params(request)
        try:
            found = self.matching(str(params.get("jql") or ""), bounded=False)
            start = _int(params.get("startAt"), 0, "startAt")
            limit = min(_int(params.get("maxResults"), DEFAULT_PAGE, "maxResults"), DC_PAGE)
        except JqlError as exc:
            return _errors(400, str(exc))
        wanted = _wanted(params.get("fields") or "*navigable")
        return Response.json({
            "expand": "schema,names", "startAt": start, "maxResults": limit, "total": len(found),
            "isLast": start + limit >= len(found),
            "issues": [self.issue_json(i, wanted) for i in found[start : start + limit]],
        })  # fmt: skip


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _errors(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"errorMessages": [message], "errors": {}}, status, headers)


def _not_found(request: Request) -> Response:  # Data Center has no enhanced search
    return Response.json({"message": f"null for uri: {request.path}", "status-code": 404}, 404)


def _params(request: Request) -> dict[str, Any]:
    """Query parameters (GET) or the JSON body (POST), ``fields`` as one comma list."""
    if request.method != "POST":
        return dict(request.query)
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return {}
    if isinstance(body.get("fields"), list):
        body["fields"] = ",".join(str(f) for f in body["fields"])
    return body


def _wanted(fields: Any) -> set[str] | None:
    """The ``fields`` parameter as a set of ids; None means all fields."""
    if fields is None:
        return None
    names = {f.strip() for f in str(fields).split(",") if f.strip()}
    if names & {"*all", "*navigable"}:
        return None
    return {n for n in names if not n.startswith("-")}


def _int(value: Any, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise JqlError(f"The '{name}' parameter must be a whole number, not '{value}'.")
    return number


def _encode_token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "q": zlib.crc32(jql.encode())}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: Any, jql: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token)))
        if data["q"] == zlib.crc32(jql.encode()):
            return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise JqlError("The provided next page token is invalid or expired.")


def start_demo(flavor: Flavor = "cloud", *, email: str | None = DEMO_EMAIL) -> JiraSimulator:
    """A started simulator for ``okrsync demo``: ``DEMO_TOKEN`` with ``email`` (None: any)."""
    return JiraSimulator(flavor, email=email, token=DEMO_TOKEN).start()


__all__ = [
    "DEMO_EMAIL",
    "DEMO_TOKEN",
    "EPIC",
    "EPIC_CHILDREN",
    "EPIC_DONE",
    "EPIC_LINK",
    "STORY_POINTS",
    "Issue",
    "JiraSimulator",
    "JqlError",
    "build_issues",
    "parse_jql",
    "start_demo",
]
