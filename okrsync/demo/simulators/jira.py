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
``today`` (injectable; :mod:`okrsync.demo.simulators._jira_data`). A small JQL parser
(:func:`parse_jql`, :mod:`okrsync.demo.simulators._jql`) evaluates queries; what it does
not know is a 400 in Jira's words, never a made-up answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import ssl
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from okrsync.demo.simulators._jira_data import (
    CATEGORIES,
    EPIC,
    EPIC_CHILDREN,
    EPIC_DONE,
    EPIC_LINK,
    FIELD_TABLE,
    PROJECTS,
    STORY_POINTS,
    Issue,
    build_issues,
)
from okrsync.demo.simulators._jql import JqlError, parse_jql
from okrsync.demo.simulators._jql import (
    Predicate as Predicate,  # re-exported, public before the split
)
from okrsync.demo.simulators.server import FakeServer, Request, Response
from okrsync.demo.simulators.simulated import Simulated, Span

Flavor = Literal["cloud", "datacenter"]
DEMO_EMAIL = "demo@example.com"
DEMO_TOKEN = "jira-demo-token-4b1d"  # noqa: S105 - published, accepted only by the simulator
CLOUD_ID_PAGE, CLOUD_FIELDS_PAGE, DC_PAGE, DEFAULT_PAGE = 5000, 100, 1000, 50
_UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
_NO_ISSUE = "Issue does not exist or you do not have permission to see it."
_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
    "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


def _utc_today() -> date:
    return datetime.now(UTC).date()


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

    # -- what the JQL parser asks (okrsync.demo.simulators._jql) ---------------------

    def now(self) -> datetime:
        return datetime.combine(self.today(), time(12, 0), tzinfo=UTC)

    def value(self, issue: Issue, field: str) -> Any:
        if field in ("parent", "epic"):  # Data Center's parent finds sub-tasks only
            return issue.epic if field == "epic" or self.flavor == "cloud" else None
        if field in ("type", "status", "resolution"):
            text: str | None = getattr(issue, field)
            return None if text is None else text.lower()
        return getattr(issue, field)

    def matching(self, jql: str, *, bounded: bool) -> list[Issue]:
        """Issues matching ``jql``, newest first (Jira's default order); JqlError for a 400."""
        pred, clauses = parse_jql(self, jql)
        if bounded and clauses == 0:
            raise JqlError(_UNBOUNDED)
        found = [i for i in self.issues.values() if pred is None or pred(i)]
        return sorted(found, key=lambda i: i.id, reverse=True)

    # -- JSON ----------------------------------------------------------------

    def field_list(self) -> list[dict[str, Any]]:
        table = [*FIELD_TABLE]
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
        cid, cname = CATEGORIES[issue.category]
        category = {"id": cid, "key": issue.category, "name": cname}
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "status": {"name": issue.status, "statusCategory": category},
            "resolution": None if issue.resolution is None else {"name": issue.resolution},
            "resolutiondate": _stamp(issue.resolved),
            "created": _stamp(issue.created),
            "issuetype": {"name": issue.type, "subtask": issue.type == "Sub-task"},
            "project": {"key": issue.project, "name": PROJECTS[issue.project]},
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


SERVES = "jira"


def demo(_: Span) -> Simulated:
    """The demo's Jira Cloud: any email with ``DEMO_TOKEN`` (the examples' JIRA_API_TOKEN)."""
    server = start_demo(email=None)
    return Simulated.at(server, {"JIRA_API_TOKEN": DEMO_TOKEN})


__all__ = [
    "DEMO_EMAIL",
    "DEMO_TOKEN",
    "EPIC",
    "EPIC_CHILDREN",
    "EPIC_DONE",
    "EPIC_LINK",
    "SERVES",
    "STORY_POINTS",
    "Issue",
    "JiraSimulator",
    "JqlError",
    "build_issues",
    "demo",
    "parse_jql",
    "start_demo",
]
