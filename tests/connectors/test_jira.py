"""The jira connector: the real ``jira`` client against the Jira simulator over real HTTP."""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pydantic
import pytest
import trustme
from pydantic import ValidationError

import connectors.jira.connector as jira_connector
from connectors.jira.connector import CONNECTOR, JiraConnection, describe
from connectors.jira.settings import JiraSettings, JiraSource
from okrsync.demo.simulators import Fault
from okrsync.demo.simulators.jira import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    EPIC,
    EPIC_CHILDREN,
    EPIC_DONE,
    Issue,
    JiraSimulator,
    JqlError,
    start_demo,
)
from okrsync.domain.cycle import Cycle
from okrsync.errors import AuthError, MeasureError, QueryError, SourceDataError, TransientError
from okrsync.sdk.connector import InitiativeReading, Reading, RenderContext, Runtime
from okrsync.testing.harness import Harness
from tests.support import NOW, TODAY, TOKEN, Sleeps

T = TypeVar("T")
EMAIL = "ops@example.com"
SEARCH = "/rest/api/2/search/jql"
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
SUP_SINCE = 'project = SUP AND created >= "2026-10-01"'
STORIES = "project = PROD AND type = Story"


def simulator(flavor: str) -> JiraSimulator:
    return JiraSimulator(flavor, email=EMAIL, token=TOKEN, today=lambda: TODAY)  # type: ignore[arg-type]


@pytest.fixture(params=["cloud", "datacenter"])
def sim(request: pytest.FixtureRequest) -> Iterator[JiraSimulator]:
    with simulator(request.param) as server:
        yield server


@pytest.fixture
def cloud() -> Iterator[JiraSimulator]:
    with simulator("cloud") as server:
        yield server


@pytest.fixture
def dc() -> Iterator[JiraSimulator]:
    with simulator("datacenter") as server:
        yield server


def settings(sim: JiraSimulator, **extra: Any) -> JiraSettings:
    data: dict[str, Any] = {"type": "jira", "url": sim.url, "token": TOKEN, "flavor": sim.flavor}
    if sim.flavor == "cloud":
        data["email"] = EMAIL
    return JiraSettings.model_validate({**data, **extra})


HARNESS = Harness(CONNECTOR, RenderContext(Cycle.model_validate("2026-Q4"), NOW), "jira")


def source(**fields: Any) -> JiraSource:
    return JiraSource.model_validate({"connection": "jira", **fields})


def run(
    sim: JiraSimulator,
    use: Callable[[JiraConnection], Awaitable[T]],
    sleeps: Sleeps | None = None,
    **extra: Any,
) -> T:
    return HARNESS.use(settings(sim, **extra), use, sleeps)  # type: ignore[arg-type]


def measure(
    sim: JiraSimulator, src: dict[str, Any], sleeps: Sleeps | None = None, **extra: Any
) -> Reading:
    return run(sim, lambda c: c.measure(source(**src)), sleeps, **extra)


def fails(sim: JiraSimulator, src: dict[str, Any], **extra: Any) -> MeasureError:
    return HARNESS.fails(settings(sim, **extra), src)


def issues(sim: JiraSimulator, test: Callable[[Issue], bool]) -> list[Issue]:
    return [i for i in sim.issues.values() if test(i)]


def sup_since(sim: JiraSimulator) -> int:
    return len(issues(sim, lambda i: i.project == "SUP" and i.created >= SINCE))


def points(sim: JiraSimulator) -> list[float]:
    stories = issues(sim, lambda i: i.project == "PROD" and i.type == "Story")
    return [i.points for i in stories if i.points is not None]


def paths(sim: JiraSimulator) -> list[str]:
    return [r.path for r in sim.requests]


# -- counts --------------------------------------------------------------------


def test_cloud_exact_count_is_one_id_only_request(cloud: JiraSimulator) -> None:
    reading = measure(cloud, {"jql": SUP_SINCE, "aggregate": "count"})
    expected = sup_since(cloud)
    assert 20 < expected < 5000
    assert (reading.value, reading.calls) == (float(expected), 1)
    (sent,) = cloud.requests
    assert (sent.method, sent.path) == ("GET", SEARCH)
    assert sent.query == {"jql": SUP_SINCE, "maxResults": "5000"}  # no fields: ids only
    assert sent.headers["authorization"].startswith("Basic ")


def test_cloud_count_pages_by_token(cloud: JiraSimulator) -> None:
    cloud.id_page_limit = 50  # Jira may return fewer than asked
    total = len(issues(cloud, lambda i: i.project == "SUP"))
    reading = measure(cloud, {"jql": "project = SUP", "aggregate": "count"})
    pages = math.ceil(total / 50)
    assert pages >= 3
    assert (reading.value, reading.calls, len(cloud.requests)) == (float(total), pages, pages)
    tokens = [r.query.get("nextPageToken") for r in cloud.requests]
    assert tokens[0] is None
    assert len(set(tokens[1:])) == pages - 1


def test_cloud_approximate_count(cloud: JiraSimulator) -> None:
    reading = measure(cloud, {"jql": SUP_SINCE, "aggregate": "count", "approximate": True})
    assert (reading.value, reading.calls) == (float(sup_since(cloud)), 1)
    (sent,) = cloud.requests
    assert (sent.method, sent.path, sent.json()) == (
        "POST",
        "/rest/api/2/search/approximate-count",
        {"jql": SUP_SINCE},
    )


def test_datacenter_count_reads_total(dc: JiraSimulator) -> None:
    async def twice(conn: JiraConnection) -> list[Reading]:
        return [await conn.measure(source(jql=SUP_SINCE, aggregate="count")) for _ in range(2)]

    first, second = run(dc, twice)
    assert first.value == second.value == float(sup_since(dc))
    # The client's own field-name cache costs one GET field per connection, then one request.
    assert (first.calls, second.calls) == (2, 1)
    assert paths(dc) == ["/rest/api/2/field", "/rest/api/2/search", "/rest/api/2/search"]
    assert dc.requests[-1].query["maxResults"] == "1"
    assert dc.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


def test_datacenter_approximate_is_exact(dc: JiraSimulator) -> None:
    reading = measure(dc, {"jql": SUP_SINCE, "aggregate": "count", "approximate": True})
    assert reading.value == float(sup_since(dc))


@pytest.mark.parametrize("flavor", [None, "given"])
def test_flavor_detected_once(sim: JiraSimulator, flavor: str | None) -> None:
    extra = {"flavor": None} if flavor is None else {}

    async def five(conn: JiraConnection) -> list[Reading]:
        count = source(jql=SUP_SINCE, aggregate="count")
        return list(await asyncio.gather(*(conn.measure(count) for _ in range(5))))

    readings = run(sim, five, max_concurrency=4, **extra)
    assert {r.value for r in readings} == {float(sup_since(sim))}
    info = paths(sim).count("/rest/api/2/serverInfo")
    assert info == (1 if flavor is None else 0)
    assert sum(r.calls for r in readings) == len(sim.requests)


# -- aggregates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "pick"),
    [
        ("sum", math.fsum),
        ("avg", lambda v: math.fsum(v) / len(v)),
        ("min", min),
        ("max", max),
    ],
)
def test_aggregates_by_field_name(
    sim: JiraSimulator, how: str, pick: Callable[[list[float]], float]
) -> None:
    reading = measure(sim, {"jql": STORIES, "aggregate": how, "field": "Story Points"})
    assert reading.value == pytest.approx(pick(points(sim)))
    searches = [r for r in sim.requests if r.path.startswith("/rest/api/2/search")]
    assert {r.query["fields"] for r in searches} == {"customfield_10016"}  # only that field
    assert paths(sim).count("/rest/api/2/field") == 1
    assert reading.calls == len(sim.requests)


def test_fields_are_fetched_once_per_connection(sim: JiraSimulator) -> None:
    async def three(conn: JiraConnection) -> list[Reading]:
        names = ["Story Points", "story points", "cf[10016]"]
        return [await conn.measure(source(jql=STORIES, aggregate="sum", field=n)) for n in names]

    readings = run(sim, three)
    assert len({r.value for r in readings}) == 1
    assert paths(sim).count("/rest/api/2/field") == 1


def test_sum_of_nothing_is_zero_but_avg_fails(sim: JiraSimulator) -> None:
    empty = {"jql": "project = SUP", "field": "Story Points"}
    assert measure(sim, {**empty, "aggregate": "sum"}).value == 0.0
    error = fails(sim, {**empty, "aggregate": "avg"})
    assert isinstance(error, SourceDataError)
    assert "no issue matched with a value in Story Points" in str(error)


@pytest.mark.parametrize(
    ("field", "message"),
    [("Velocity", "no Jira field named 'Velocity'"), ("Team", "does not hold numbers")],
)
def test_unusable_fields(sim: JiraSimulator, field: str, message: str) -> None:
    error = fails(sim, {"jql": STORIES, "aggregate": "sum", "field": field})
    assert isinstance(error, QueryError)
    assert message in str(error)


# -- milestones and initiatives ---------------------------------------------------


@pytest.mark.parametrize(("key", "done"), [("PROD-200", False), ("PROD-201", True)])
def test_milestone_issue(sim: JiraSimulator, key: str, done: bool) -> None:
    reading = measure(sim, {"issue": key})
    assert reading.value is done
    assert reading.calls == 1
    (sent,) = sim.requests
    assert sent.path == f"/rest/api/2/issue/{key}"
    assert sent.query == {"fields": "status,resolution,resolutiondate,summary"}
    assert key in reading.raw


def test_initiative_epic_completion(sim: JiraSimulator) -> None:
    reading = run(sim, lambda c: c.initiative(EPIC))
    assert reading == InitiativeReading(
        EPIC, "Checkout redesign", EPIC_DONE, EPIC_CHILDREN, "indeterminate", reading.raw, 3
    )
    # the issue, the client's one-off GET field (its name cache), the children
    assert [p.rsplit("/", 1)[-1] for p in paths(sim)] == [
        EPIC,
        "field",
        sim.requests[-1].path.rsplit("/", 1)[-1],
    ]
    children = sim.requests[-1].query["jql"]
    assert children == (f"parent = {EPIC}" if sim.flavor == "cloud" else f'"Epic Link" = {EPIC}')


@pytest.mark.parametrize(("key", "done"), [("PROD-200", 0), ("PROD-201", 1)])
def test_initiative_without_children_counts_itself(sim: JiraSimulator, key: str, done: int) -> None:
    reading = run(sim, lambda c: c.initiative(key))
    assert (reading.done, reading.total) == (done, 1)


def test_initiative_needs_an_issue_key(cloud: JiraSimulator) -> None:
    with pytest.raises(QueryError, match="issue key"):
        run(cloud, lambda c: c.initiative("PROD-1 OR project = SUP"))
    assert cloud.requests == []


# -- rendering and description ------------------------------------------------------


def test_placeholders_become_jql_dates(cloud: JiraSimulator) -> None:
    ctx = RenderContext(Cycle.model_validate("2026-Q4"), datetime(2026, 11, 26, 10, 49, tzinfo=UTC))
    jql = "project = SUP AND created >= {cycle.start} AND created <= {cycle.end} AND created <= '{as_of}'"  # fmt: skip
    assert CONNECTOR.render is not None
    rendered = CONNECTOR.render(source(jql=jql, aggregate="count"), ctx)
    assert rendered.jql == (
        'project = SUP AND created >= "2026-10-01" AND created <= "2026-12-31 23:59"'
        ' AND created <= "2026-11-26 10:49"'
    )
    reading = run(cloud, lambda c: c.measure(rendered))
    assert reading.value == float(sup_since(cloud))
    assert cloud.requests[0].query["jql"] == rendered.jql


def test_describe() -> None:
    assert describe(source(jql=SUP_SINCE, aggregate="count")) == f"JQL count: {SUP_SINCE}"
    approx = source(jql="project = SUP", aggregate="count", approximate=True)
    assert describe(approx) == "JQL approximate count: project = SUP"
    summed = source(jql=STORIES, aggregate="sum", field="Story Points")
    assert describe(summed) == f"JQL sum(Story Points): {STORIES}"
    assert describe(source(issue="PROD-101")) == "issue PROD-101"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"jql": "project = SUP"}, "needs aggregate"),
        ({"aggregate": "count"}, "jql + aggregate, or issue"),
        ({}, "jql + aggregate, or issue"),
        ({"jql": "project = SUP", "aggregate": "sum"}, "needs field"),
        ({"jql": "x", "aggregate": "count", "field": "Story Points"}, "count takes no field"),
        ({"jql": "x", "aggregate": "avg", "field": "f", "approximate": True}, "count only"),
        ({"issue": "PROD-1", "jql": "project = SUP"}, "drop jql"),
        ({"issue": "PROD-1", "approximate": True}, "drop approximate"),
        ({"issue": "prod one"}, "issue key like PROD-101"),
        ({"jql": "x", "aggregate": "median"}, "aggregate"),
        ({"jql": "x", "aggregate": "count", "extra": 1}, "extra"),
    ],
)
def test_source_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        source(**fields)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"flavor": "cloud"}, "cloud needs email"),
        ({"url": "ftp://jira.example.com"}, "http"),
        ({"token": " "}, "token is empty"),
        ({"flavor": "server"}, "flavor"),
    ],
)
def test_settings_validation(data: dict[str, Any], message: str) -> None:
    base = {"type": "jira", "url": "https://jira.example.com", "token": TOKEN}
    with pytest.raises(pydantic.ValidationError, match=message):
        JiraSettings.model_validate({**base, **data})


# -- failures -------------------------------------------------------------------------


def test_bad_jql_carries_jiras_message(sim: JiraSimulator) -> None:
    error = fails(sim, {"jql": "project = SUP AND", "aggregate": "count"})
    assert isinstance(error, QueryError)
    assert "HTTP 400" in str(error)
    assert "Error in the JQL Query: Expecting a field name" in str(error)
    assert TOKEN not in str(error)


def test_unknown_project(sim: JiraSimulator) -> None:
    error = fails(sim, {"jql": "project = NOPE", "aggregate": "count"})
    assert isinstance(error, QueryError)
    assert "The value 'NOPE' does not exist for the field 'project'." in str(error)
    assert len([p for p in paths(sim) if "search" in p]) == 1  # not retried


def test_missing_issue_is_404(sim: JiraSimulator) -> None:
    error = fails(sim, {"issue": "PROD-999"})
    assert isinstance(error, QueryError)
    assert str(error).startswith("issue PROD-999 does not exist")
    assert "Issue does not exist or you do not have permission to see it." in str(error)


@pytest.mark.parametrize("flavor", [None, "given"])
def test_wrong_token_is_auth_error(sim: JiraSimulator, flavor: str | None) -> None:
    extra: dict[str, Any] = {"token": "wrong-secret-9f8e7d"}
    if flavor is None:
        extra["flavor"] = None
    error = fails(sim, {"jql": SUP_SINCE, "aggregate": "count"}, **extra)
    assert isinstance(error, AuthError)
    who = EMAIL if sim.flavor == "cloud" else "the access token"
    assert str(error).startswith(f"HTTP 401: credentials rejected for {who}")
    assert "wrong-secret" not in str(error)
    assert TOKEN not in str(error)
    assert len(sim.requests) == 1  # not retried


STATUS_TABLE = [
    (400, QueryError),
    (401, AuthError),
    (403, AuthError),
    (404, QueryError),
    (410, QueryError),
    (429, TransientError),
    (500, TransientError),
    (502, TransientError),
    (503, TransientError),
    (504, TransientError),
]


@pytest.mark.parametrize(("status", "kind"), STATUS_TABLE)
def test_status_table(cloud: JiraSimulator, status: int, kind: type[MeasureError]) -> None:
    body = {"errorMessages": ["nope from jira"], "errors": {}}
    cloud.add_fault(SEARCH, Fault.status(status, body), times=5)
    error = fails(cloud, {"jql": SUP_SINCE, "aggregate": "count"}, retry={"attempts": 2})
    assert type(error) is kind
    assert f"HTTP {status}" in str(error)
    assert "nope from jira" in str(error)
    assert TOKEN not in str(error)
    assert len(cloud.requests) == (2 if kind is TransientError else 1)


def test_forbidden_reason_header(cloud: JiraSimulator) -> None:
    denied = {"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE; login-url=https://x/login"}
    cloud.add_fault(SEARCH, Fault.status(403, b"", headers=denied))
    error = fails(cloud, {"jql": SUP_SINCE, "aggregate": "count"})
    assert isinstance(error, AuthError)
    assert "CAPTCHA_CHALLENGE" in str(error)


def test_retry_after_is_ours_not_the_clients(cloud: JiraSimulator) -> None:
    limited = Fault.status(429, {"errorMessages": ["Rate limit exceeded."]}, {"Retry-After": "7"})
    cloud.add_fault(SEARCH, limited)
    sleeps = Sleeps()
    reading = measure(cloud, {"jql": SUP_SINCE, "aggregate": "count"}, sleeps)
    assert reading.value == float(sup_since(cloud))
    assert sleeps.waits == [7.0]  # our policy slept what Jira asked
    assert (reading.calls, len(cloud.requests)) == (2, 2)  # one request per attempt


def test_rate_limit_headers_reach_the_connections_live_quota(cloud: JiraSimulator) -> None:
    """Jira Cloud's X-RateLimit-* (ISO reset) and a 429's Retry-After, through the real client."""
    said = {
        "Retry-After": "7",
        "X-RateLimit-Limit": "350",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "2099-01-01T00:00Z",
        "RateLimit-Reason": "jira-burst-based",
    }
    cloud.add_fault(SEARCH, Fault.status(429, {"errorMessages": ["Rate limit exceeded."]}, said))

    async def use(connection: JiraConnection) -> tuple[Any, Any]:
        await connection.measure(source(jql=SUP_SINCE, aggregate="count"))
        return connection.live.observations(), connection.live.blocked()

    seen, blocked = run(cloud, use, Sleeps())
    [o] = seen
    assert (o.limit, o.unit) == (350, "requests")
    assert o.reset_at == datetime(2099, 1, 1, tzinfo=UTC).timestamp()
    assert blocked is not None
    assert blocked[1] == "HTTP 429 with Retry-After: 7"


def test_503_storm_exhausts_attempts(cloud: JiraSimulator) -> None:
    # The client would retry a 503 with Retry-After itself; here it must not.
    cloud.add_fault(SEARCH, Fault.status(503, headers={"Retry-After": "1"}), times=10)
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 503"):
        measure(cloud, {"jql": SUP_SINCE, "aggregate": "count"}, sleeps, retry={"attempts": 3})
    assert len(cloud.requests) == 3
    assert sleeps.waits == [1.0, 1.0]


def test_connection_reset_then_success(sim: JiraSimulator) -> None:
    sim.add_fault(r"/rest/api/2/(search.*|issue/.*)", Fault.reset())
    reading = measure(sim, {"issue": "PROD-201"})
    assert (reading.value, reading.calls, len(sim.requests)) == (True, 2, 2)


def test_reset_every_time_is_transient(cloud: JiraSimulator) -> None:
    cloud.add_fault(SEARCH, Fault.reset(), times=2)
    error = fails(cloud, {"jql": SUP_SINCE, "aggregate": "count"}, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert "connection failed" in str(error)


def test_timeout_is_transient(cloud: JiraSimulator) -> None:
    cloud.add_fault(SEARCH, Fault.hang(5), times=2)
    src = {"jql": SUP_SINCE, "aggregate": "count"}
    error = fails(cloud, src, timeout=0.2, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert str(error) == "Jira search timed out after 0.2s"
    assert len(cloud.requests) == 2


def test_repeated_page_token_stops(cloud: JiraSimulator) -> None:
    cloud.repeat_page_token = True
    error = fails(cloud, {"jql": "project = SUP", "aggregate": "count"})
    assert isinstance(error, SourceDataError)
    assert "repeated a page token" in str(error)
    assert len(cloud.requests) == 2


def test_page_cap_stops(cloud: JiraSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jira_connector, "MAX_PAGES", 3)
    cloud.id_page_limit = 10
    error = fails(cloud, {"jql": "project = SUP", "aggregate": "count"})
    assert isinstance(error, SourceDataError)
    assert "more than 3 pages" in str(error)
    assert len(cloud.requests) == 3


@pytest.fixture
def tls_cloud(tmp_path: Path) -> Iterator[tuple[JiraSimulator, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with JiraSimulator(email=EMAIL, token=TOKEN, today=lambda: TODAY, tls=context) as server:
        yield server, ca_file


def test_ca_bundle_trusts_private_ca(tls_cloud: tuple[JiraSimulator, Path]) -> None:
    server, ca_file = tls_cloud
    assert server.url.startswith("https://")
    reading = measure(server, {"issue": "PROD-201"}, ca_bundle=str(ca_file))
    assert reading.value is True


def test_untrusted_certificate_says_so(
    tls_cloud: tuple[JiraSimulator, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    error = fails(tls_cloud[0], {"issue": "PROD-201"}, retry={"attempts": 1})
    assert isinstance(error, TransientError)
    assert "TLS certificate not trusted; set ca_bundle" in str(error)


def test_missing_ca_bundle_is_a_settings_error(cloud: JiraSimulator) -> None:
    with pytest.raises(ValidationError, match=r"ca_bundle /nonexistent/ca\.pem: no such file"):
        settings(cloud, ca_bundle="/nonexistent/ca.pem")


# -- the simulator's own rules ----------------------------------------------------------


def test_simulator_vendor_rules(cloud: JiraSimulator, dc: JiraSimulator) -> None:
    auth = httpx.BasicAuth(EMAIL, TOKEN)
    with httpx.Client(base_url=cloud.url, auth=auth) as http:
        assert http.get("/rest/api/2/search", params={"jql": "project = SUP"}).status_code == 410
        ids = http.get(SEARCH, params={"jql": "key = PROD-201"}).json()
        assert ids == {"issues": [{"id": str(cloud.issues["PROD-201"].id)}], "isLast": True}
        unbounded = http.get(SEARCH, params={"jql": "ORDER BY created DESC"})
        assert unbounded.status_code == 400
        assert "Unbounded JQL" in unbounded.json()["errorMessages"][0]
        info = http.get("/rest/api/3/serverInfo").json()
        assert info["deploymentType"] == "Cloud"
        assert http.get(SEARCH, params={"jql": "project = SUP"}, auth=None).status_code == 401
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=dc.url, headers=headers) as http:
        page = http.get("/rest/api/2/search", params={"jql": "", "maxResults": 5000}).json()
        assert (page["startAt"], page["maxResults"], page["total"]) == (0, 1000, len(dc.issues))
        assert page["isLast"] is True
        assert http.get("/rest/api/2/serverInfo").json()["deploymentType"] == "Server"
        assert http.get(SEARCH, params={"jql": "project = SUP"}).status_code == 404


NOV = datetime(2026, 11, 1, tzinfo=UTC)
JQL_TABLE: list[tuple[str, Callable[[Issue], bool]]] = [
    ("project = SUP AND created >= startOfMonth()", lambda i: i.project == "SUP" and i.created >= NOV),
    ("project = SUP AND created >= startOfMonth(-1) AND created < startOfMonth()", lambda i: i.project == "SUP" and SINCE <= i.created < NOV),
    ("project = PROD AND resolution is EMPTY", lambda i: i.project == "PROD" and not i.resolved),
    ("project = SUP AND statusCategory != Done", lambda i: i.project == "SUP" and i.category != "done"),
    ("type in (Bug, Epic) OR key = PROD-200", lambda i: i.type in ("Bug", "Epic") or i.key == "PROD-200"),
    ("project = PROD AND NOT (status = Done OR status = 'To Do')", lambda i: i.project == "PROD" and i.status == "In Progress"),
    ('"Story Points" >= 8 ORDER BY created DESC', lambda i: (i.points or 0) >= 8),
    ("project = SUP AND created >= -7d", lambda i: i.project == "SUP" and i.created >= NOV + timedelta(days=7, hours=12)),
]  # fmt: skip


@pytest.mark.parametrize(("jql", "test"), JQL_TABLE)
def test_simulator_jql(cloud: JiraSimulator, jql: str, test: Callable[[Issue], bool]) -> None:
    found = cloud.matching(jql, bounded=True)
    assert {i.key for i in found} == {i.key for i in issues(cloud, test)}
    assert found


@pytest.mark.parametrize(
    ("flavor", "jql", "message"),
    [
        ("cloud", '"Epic Link" = PROD-101', "Field 'Epic Link' does not exist"),
        ("cloud", "created >= lastSprint()", "Unable to find JQL function 'lastSprint()'"),
        ("cloud", "summary ~ crash", "not supported"),
        ("cloud", "created >= yesterday", "Date value 'yesterday' for field 'created' is invalid"),
        ("cloud", "parent = PROD-9999", "An issue with key 'PROD-9999' does not exist"),
        ("cloud", "project = SUP project = PROD", "Expecting either 'OR' or 'AND'"),
        ("datacenter", "type = Initiative", "The value 'Initiative' does not exist"),
    ],
)
def test_simulator_refuses_what_it_does_not_know(flavor: str, jql: str, message: str) -> None:
    sim = simulator(flavor)  # the parser needs no running server
    with pytest.raises(JqlError, match=re.escape(message)):
        sim.matching(jql, bounded=True)


def test_simulator_epic_links_by_flavor() -> None:
    cloud, dc = simulator("cloud"), simulator("datacenter")
    assert len(cloud.matching(f"parent = {EPIC}", bounded=True)) == EPIC_CHILDREN
    assert len(dc.matching(f'"Epic Link" = {EPIC}', bounded=True)) == EPIC_CHILDREN
    assert dc.matching(f"parent = {EPIC}", bounded=True) == []  # DC parent: sub-tasks only


def test_demo_simulator() -> None:
    sim = start_demo()
    try:
        data = {"type": "jira", "url": sim.url, "email": DEMO_EMAIL, "token": DEMO_TOKEN}
        config = JiraSettings.model_validate(data)

        async def go() -> Reading:
            connection = CONNECTOR.open(config, Runtime(sleep=Sleeps()))
            try:
                return await connection.measure(source(issue="PROD-201"))
            finally:
                await connection.aclose()

        assert asyncio.run(go()).value is True
    finally:
        sim.stop()
    with JiraSimulator(email=None, token=TOKEN) as anyone:  # the demo may name any account
        assert measure(anyone, {"issue": "PROD-201"}, email="someone@example.com").value is True


# -- answers that must not crash or bloat a sync (#16) --------------------------


def test_json_nested_100000_deep_is_a_data_error(cloud: JiraSimulator) -> None:
    cloud.add_fault(SEARCH, Fault.status(200, b"[" * 100_000 + b"]" * 100_000))
    error = fails(cloud, {"jql": SUP_SINCE, "aggregate": "count"})
    assert isinstance(error, SourceDataError)
    assert str(error) == "Jira search: the reply is nested too deeply to read"


def test_an_answer_over_max_response_bytes_is_refused_and_not_retried(
    cloud: JiraSimulator,
) -> None:
    cloud.add_fault(SEARCH, Fault.status(200, b'{"issues": [], "pad": "' + b"x" * 5000 + b'"}'))
    error = fails(cloud, {"jql": SUP_SINCE, "aggregate": "count"}, max_response_bytes=4096)
    assert isinstance(error, SourceDataError)
    assert str(error) == (
        "GET /rest/api/2/search/jql: the answer is larger than 4,096 bytes "
        "(max_response_bytes); not read further"
    )
    assert sum(r.path == SEARCH for r in cloud.requests) == 1
    assert measure(cloud, {"jql": SUP_SINCE, "aggregate": "count"}, max_response_bytes=4096)
