"""The posthog connector over real HTTP against the PostHog simulator, and a whole sync."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from connectors.posthog.connector import CONNECTOR, PostHogSettings, PostHogSource, describe
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators._posthog_hogql import Event
from okrsync.demo.simulators.posthog import (
    DEMO_API_KEY,
    DEMO_PROJECT_ID,
    SCOPED_OUT_KEY,
    PostHogSimulator,
    start_demo,
)
from okrsync.demo.simulators.server import Fault
from okrsync.domain.cycle import Cycle
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    QuotaError,
    SourceDataError,
    TransientError,
)
from okrsync.sdk.connector import Reading, RenderContext
from okrsync.store.database import Store
from okrsync.testing.harness import Harness
from tests.support import FAST, NOW, TODAY, Sleeps, sync_now, write

Q4 = Cycle(name="2026-Q4", start=date(2026, 10, 1), end=date(2026, 12, 31))
CTX = RenderContext(cycle=Q4, as_of=NOW)
HARNESS = Harness(CONNECTOR, CTX, "ph")
START = datetime(2026, 10, 1, tzinfo=UTC)
PATH = f"/api/projects/{DEMO_PROJECT_ID}/query/"
PAGEVIEWS = (
    "SELECT count() FROM events WHERE event = '$pageview' "
    "AND timestamp >= toDateTime({cycle.start}) "
    "AND timestamp < toDateTime({cycle.end}) + INTERVAL 1 DAY"
)
WRONG_KEY = "phx_wrongPersonalKey1234567890"


@pytest.fixture
def sim() -> Iterator[PostHogSimulator]:
    with PostHogSimulator(today=lambda: TODAY) as server:
        yield server


def measure_all(
    sim: PostHogSimulator, queries: list[str], sleeps: Sleeps | None = None, **settings: Any
) -> list[Reading | MeasureError]:
    """Each query's reading or error, through one connection (opening one costs ~0.3 s of TLS setup)."""
    base = {
        "type": "posthog",
        "url": sim.url,
        "project_id": DEMO_PROJECT_ID,
        "api_key": DEMO_API_KEY,
    }
    config = HARNESS.settings(base, **settings)
    return HARNESS.measure_all(config, [{"hogql": q} for q in queries], sleeps)


def measure(
    sim: PostHogSimulator, hogql: str, sleeps: Sleeps | None = None, **settings: Any
) -> Reading:
    [result] = measure_all(sim, [hogql], sleeps, **settings)
    if isinstance(result, MeasureError):
        raise result
    return result


def fails(
    sim: PostHogSimulator, hogql: str, sleeps: Sleeps | None = None, **settings: Any
) -> MeasureError:
    [result] = measure_all(sim, [hogql], sleeps, **settings)
    assert isinstance(result, MeasureError), result
    return result


def sent(sim: PostHogSimulator) -> dict[str, Any]:
    posts = [r for r in sim.requests if r.method == "POST"]
    return posts[-1].json()  # type: ignore[no-any-return]


def test_placeholders_travel_as_hogql_values_not_text(sim: PostHogSimulator) -> None:
    reading = measure(sim, PAGEVIEWS)
    end = datetime(2027, 1, 1, tzinfo=UTC)
    expected = sum(1 for e in sim.events() if e.event == "$pageview" and START <= e.timestamp < end)
    assert expected > 100
    assert (reading.value, reading.calls) == (float(expected), 1)
    body = sent(sim)
    assert body["name"] == "okrsync"
    assert body["refresh"] == "blocking"
    query = body["query"]
    assert query["kind"] == "HogQLQuery"
    assert query["values"] == {"cycle_end": "2026-12-31", "cycle_start": "2026-10-01"}
    assert "{cycle_start}" in query["query"]
    assert "2026" not in query["query"]
    request = sim.requests[0]
    assert (request.path, request.headers["authorization"]) == (PATH, f"Bearer {DEMO_API_KEY}")
    assert json.loads(reading.raw)["results"] == [[expected]]


FORMS: list[tuple[str, Callable[[Sequence[Event]], float]]] = [
    (
        "SELECT count(DISTINCT person_id) FROM events WHERE timestamp >= toDateTime({cycle.start})",
        lambda evs: len({e.person_id for e in evs if e.timestamp >= START}),
    ),
    (
        "SELECT sum(properties.amount) AS revenue FROM events WHERE event = 'purchase' "
        "AND toDate(timestamp) >= toDate('{cycle.start}') AND timestamp <= toDateTime({as_of})",
        lambda evs: sum(
            e.properties["amount"]
            for e in evs
            if e.event == "purchase" and START <= e.timestamp <= NOW
        ),
    ),
    (
        "SELECT count() FROM events WHERE event = 'signed_up' AND timestamp > now() - INTERVAL 7 DAY",
        lambda evs: sum(
            1 for e in evs if e.event == "signed_up" and e.timestamp > NOW - timedelta(days=7)
        ),
    ),
]


def test_hogql_forms(sim: PostHogSimulator) -> None:
    readings = measure_all(sim, [q for q, _ in FORMS])
    for (hogql, expected), reading in zip(FORMS, readings, strict=True):
        assert isinstance(reading, Reading), hogql
        assert reading.value == pytest.approx(expected(sim.events())), hogql
        assert reading.value > 0


def test_as_of_is_an_utc_instant(sim: PostHogSimulator) -> None:
    measure(sim, "SELECT count() FROM events WHERE timestamp <= toDateTime({as_of})")
    assert sent(sim)["query"]["values"] == {"as_of": "2026-11-15T12:00:00Z"}


def test_render_and_describe() -> None:
    source = PostHogSource(
        connection="ph",
        hogql="SELECT count() FROM events WHERE toDate(timestamp) >= '{cycle.start}'",
    )
    rendered = CONNECTOR.render(source, CTX)  # type: ignore[misc]
    assert rendered.hogql == "SELECT count() FROM events WHERE toDate(timestamp) >= {cycle_start}"
    assert rendered.values == {"cycle_start": "2026-10-01"}
    assert describe(rendered) == (
        "HogQL SELECT count() FROM events WHERE toDate(timestamp) >= {cycle_start} "
        "with cycle_start='2026-10-01'"
    )
    plain = PostHogSource(connection="ph", hogql="SELECT\n  1")
    assert describe(CONNECTOR.render(plain, CTX)) == "HogQL SELECT 1"  # type: ignore[misc]


UNUSABLE = [
    ("SELECT count() FROM events WHERE event = 'nope' GROUP BY event", "returned no rows"),
    ("SELECT event, count() FROM events GROUP BY event", "returned 4 rows"),
    ("SELECT count(), uniq(person_id) FROM events", "2 columns (count(), uniq(person_id))"),
    ("SELECT avg(properties.amount) FROM events WHERE event = 'nope'", "is null"),
    ("SELECT event FROM events LIMIT 1", 'is "signed_up", not a number'),
]


def test_unusable_answers(sim: PostHogSimulator) -> None:
    errors = measure_all(sim, [q for q, _ in UNUSABLE])
    for (hogql, message), error in zip(UNUSABLE, errors, strict=True):
        assert isinstance(error, SourceDataError), hogql
        assert message in str(error), hogql
    assert len(sim.requests) == len(UNUSABLE)


ODD = [
    (b'{"columns": ["x"], "results": [[NaN]]}', "x (results[0][0]) is NaN, not a finite number"),
    (b'{"columns": ["x"], "results": [["inf"]]}', "not a finite number"),
    (b'{"columns": ["x"], "results": [[true]]}', "is true, not a number"),
    (b'{"columns": ["x"], "results": [[{"a": 1}]]}', "not a number"),
    (b'{"results": [[1], [2]], "hasMore": true}', "returned 2+ rows"),
    (b'{"columns": []}', "no results list"),
    (b"<html>502</html>", "response is not JSON"),
]


def test_odd_answers(sim: PostHogSimulator) -> None:
    for body, _ in ODD:
        sim.add_fault(PATH, Fault.status(200, body))
    errors = measure_all(sim, ["SELECT count() FROM events"] * len(ODD))
    for (body, message), error in zip(ODD, errors, strict=True):
        assert isinstance(error, SourceDataError), body
        assert message in str(error), body


def test_numeric_string_is_a_number(sim: PostHogSimulator) -> None:
    sim.add_fault(PATH, Fault.status(200, {"columns": ["d"], "results": [["12.50"]]}))
    assert measure(sim, "SELECT 1").value == 12.5


HOGQL_ERRORS = [
    (
        "SELECT count() FROM events WHERE evnt = 'x'",
        "Unable to resolve field: evnt [hogql_query_error]",
    ),
    ("SELECT count( FROM events", "Syntax error at line 1, column 14"),
    ("SELECT count() FROM evnts", "Unknown table `evnts`."),
    ("SELECT nope(event) FROM events", "Unsupported function call `nope(...)`"),
]


def test_hogql_errors_carry_posthogs_detail(sim: PostHogSimulator) -> None:
    errors = measure_all(sim, [q for q, _ in HOGQL_ERRORS])
    for (hogql, said), error in zip(HOGQL_ERRORS, errors, strict=True):
        assert isinstance(error, QueryError), hogql
        assert str(error).startswith(f"HTTP 400 from POST {PATH}: "), hogql
        assert said in str(error), hogql
    assert len(sim.requests) == len(HOGQL_ERRORS)  # none retried


@pytest.mark.parametrize(
    ("key", "status", "said"),
    [
        (WRONG_KEY, 401, "Personal API key found in request Authorization header is invalid."),
        (SCOPED_OUT_KEY, 403, "API key missing required scope 'query:read'"),
    ],
)
def test_rejected_keys_are_auth_errors(
    sim: PostHogSimulator, key: str, status: int, said: str
) -> None:
    error = fails(sim, "SELECT count() FROM events", api_key=key)
    assert isinstance(error, AuthError)
    assert str(error).startswith(f"HTTP {status}: credentials rejected (POST {PATH}): {said}")
    assert key not in str(error)
    assert len(sim.requests) == 1


def test_other_project_is_a_query_error(sim: PostHogSimulator) -> None:
    error = fails(sim, "SELECT count() FROM events", project_id=999)
    assert isinstance(error, QueryError)
    assert "no project 999 visible to this API key" in str(error)
    assert "Not found." in str(error)


THROTTLED = {"type": "throttled_error", "code": "throttled", "attr": None}


def test_429_honours_retry_after(sim: PostHogSimulator) -> None:
    detail = {**THROTTLED, "detail": "Request was throttled."}
    sim.add_fault(PATH, Fault.status(429, detail, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    reading = measure(sim, "SELECT count() FROM events", sleeps)
    assert (reading.calls, sleeps.waits) == (2, [7.0])


def test_429_wait_read_from_drf_detail(sim: PostHogSimulator) -> None:
    detail = {**THROTTLED, "detail": "Request was throttled. Expected available in 3 seconds."}
    sim.add_fault(PATH, Fault.status(429, detail), times=2)
    sleeps = Sleeps()
    assert measure(sim, "SELECT count() FROM events", sleeps).calls == 3
    assert sleeps.waits == [3.0, 3.0]


def test_hourly_throttle_is_quota_not_retried() -> None:
    with PostHogSimulator(today=lambda: TODAY, sustained_limit=1) as sim:
        measure(sim, "SELECT count() FROM events")
        error = fails(sim, "SELECT count() FROM events")
        assert len(sim.requests) == 2
    assert isinstance(error, QuotaError)
    assert "Expected available in 3600 seconds." in str(error)


def test_concurrency_throttle_without_wait_backs_off(sim: PostHogSimulator) -> None:
    detail = {**THROTTLED, "detail": "Exceeded maximum concurrency limit: 3 for key: api"}
    sim.add_fault(PATH, Fault.status(429, detail), times=5)
    sleeps = Sleeps()
    error = fails(sim, "SELECT count() FROM events", retry={"attempts": 3}, sleeps=sleeps)
    assert isinstance(error, TransientError)
    assert "Exceeded maximum concurrency limit" in str(error)
    assert len(sim.requests) == 3
    assert len(sleeps.waits) == 2


def test_5xx_storm_exhausts_attempts(sim: PostHogSimulator) -> None:
    body = {
        "type": "server_error",
        "code": "error",
        "detail": "A server error occurred.",
        "attr": None,
    }
    sim.add_fault(PATH, Fault.status(503, body), times=10)
    error = fails(sim, "SELECT count() FROM events", retry={"attempts": 3})
    assert isinstance(error, TransientError)
    assert "A server error occurred." in str(error)
    assert len(sim.requests) == 3


def test_512_estimated_too_long_is_a_query_error(sim: PostHogSimulator) -> None:
    detail = "Estimated query execution time is too long. Try reducing its scope."
    sim.add_fault(
        PATH, Fault.status(512, {"type": "server_error", "code": "error", "detail": detail})
    )
    error = fails(sim, "SELECT count() FROM events")
    assert isinstance(error, QueryError)
    assert len(sim.requests) == 1


def test_timeout_is_transient(sim: PostHogSimulator) -> None:
    sim.add_fault(PATH, Fault.hang(5), times=2)
    error = fails(sim, "SELECT 1", timeout=0.2, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert str(error) == f"POST {PATH} timed out after 0.2s"


def test_reset_then_success(sim: PostHogSimulator) -> None:
    sim.add_fault(PATH, Fault.reset())
    assert measure(sim, "SELECT count() FROM events").calls == 2


def test_202_is_polled_until_complete(sim: PostHogSimulator) -> None:
    sim.pending_polls = 3
    sleeps = Sleeps()
    reading = measure(sim, PAGEVIEWS, sleeps)
    sim.pending_polls = 0
    direct = measure(sim, PAGEVIEWS)
    assert reading.value == direct.value
    assert reading.calls == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]
    methods = [r.method for r in sim.requests]
    assert methods == ["POST", "GET", "GET", "GET", "POST"]
    assert sim.requests[1].path.startswith(PATH)


def test_202_that_never_completes_gives_up(sim: PostHogSimulator) -> None:
    sim.pending_polls = 100
    sleeps = Sleeps()
    error = fails(sim, "SELECT 1", sleeps=sleeps, retry={"max_time": 4})
    assert isinstance(error, TransientError)
    assert "still running after 3.5s" in str(error)
    assert sleeps.waits == [0.5, 1.0, 2.0]


def test_202_failed_query_carries_its_error_message(sim: PostHogSimulator) -> None:
    sim.pending_polls = 1
    status = {
        "id": "ab12",
        "complete": True,
        "error": True,
        "error_message": "Memory limit exceeded",
    }
    sim.add_fault(PATH + r"[0-9a-f]+/", Fault.status(400, {"query_status": status}))
    error = fails(sim, "SELECT 1")
    assert isinstance(error, QueryError)
    assert "Memory limit exceeded" in str(error)


def test_202_status_saying_complete_with_error_is_a_query_error(sim: PostHogSimulator) -> None:
    sim.pending_polls = 1
    status = {"id": "ab12", "complete": True, "error": True, "error_message": "Too many parts"}
    sim.add_fault(PATH + r"[0-9a-f]+/", Fault.status(200, {"query_status": status}))
    error = fails(sim, "SELECT 1")
    assert isinstance(error, QueryError)
    assert re.fullmatch(r"PostHog query [0-9a-f]+ failed: Too many parts", str(error))


def doc_hogql_examples() -> list[str]:
    """Every ``hogql:`` of docs/connectors/posthog.md's yaml blocks (one-line or folded ``>``)."""
    text = (Path(__file__).parents[2] / "docs/connectors/posthog.md").read_text()
    found: list[str] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            key, _, rest = line.partition("hogql:")
            if _ and not key.strip():
                if rest.strip() != ">":
                    found.append(rest.strip())
                    continue
                indent = len(key)
                body = []
                for more in lines[i + 1 :]:
                    if len(more) - len(more.lstrip()) <= indent or not more.strip():
                        break
                    body.append(more.strip())
                found.append(" ".join(body))
    return found


def test_doc_examples_run_on_the_simulator(sim: PostHogSimulator) -> None:
    examples = doc_hogql_examples()
    assert len(examples) >= 4
    for hogql, result in zip(examples, measure_all(sim, examples), strict=True):
        assert isinstance(result, Reading), (hogql, result)


# -- models ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "project_id"),
        ({"project_id": 0}, "greater than 0"),
        ({"url": "us.posthog.com"}, "must start with http"),
        ({"url": "https://us.i.posthog.com"}, "event capture host"),
        ({"api_key": "phc_projectToken"}, r"personal API key \(phx_"),
        ({"api_key": "  "}, "api_key is empty"),
        ({"refresh": "async"}, "refresh"),
        ({"secret": "x"}, "Extra inputs"),
    ],
)
def test_settings_validation(data: dict[str, Any], message: str) -> None:
    base = {"type": "posthog", "project_id": 1, "api_key": "phx_k"}
    if data == {}:
        base.pop("project_id")
    with pytest.raises(pydantic.ValidationError, match=message):
        PostHogSettings.model_validate({**base, **data})


def test_settings_defaults() -> None:
    settings = PostHogSettings(type="posthog", project_id=7, api_key="phx_k")
    assert (settings.url, settings.refresh) == ("https://us.posthog.com", "blocking")
    assert settings.max_concurrency == 3  # PostHog runs 3 queries at once per project


def test_url_with_a_trailing_slash(sim: PostHogSimulator) -> None:
    """httpx joins ``base_url`` and the API path whether or not the url ends in ``/``."""
    measure(sim, "SELECT count() FROM events", url=f"{sim.url}/")
    assert [r.path for r in sim.requests] == [PATH]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hogql": "DELETE FROM events"}, "must be a SELECT"),
        ({"hogql": "SELECT 1", "values": {"cycle_start": "2020-01-01"}}, "filled by okrsync"),
        ({"hogql": "SELECT 1", "aggregate": "sum"}, "Extra inputs"),
        ({}, "hogql"),
    ],
)
def test_source_validation(data: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        PostHogSource.model_validate({"connection": "ph", **data})


@pytest.mark.parametrize(
    ("hogql", "literal", "placeholder"),
    [
        (
            "SELECT count() FROM events WHERE timestamp >= toDateTime('{cycle.start} 00:00:00')",
            "'{cycle.start} 00:00:00'",
            "{cycle.start}",
        ),
        ("SELECT 1 WHERE event = 'as of {as_of}'", "'as of {as_of}'", "{as_of}"),
        ("SELECT 1 WHERE x = '{cycle.end}T23:59:59'", "'{cycle.end}T23:59:59'", "{cycle.end}"),
    ],
)
def test_placeholder_inside_a_longer_literal_is_refused(
    hogql: str, literal: str, placeholder: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        PostHogSource(connection="ph", hogql=hogql)
    message = str(info.value)
    assert f"{placeholder} inside the string literal {literal}" in message
    assert "PostHog never fills" in message
    assert f"write the placeholder bare, e.g. toDateTime({placeholder})" in message


def test_quoted_placeholders_and_other_literals_accepted() -> None:
    for hogql in (
        "SELECT 1 WHERE toDate(timestamp) >= '{cycle.start}' AND event = 'it''s {x}'",
        "SELECT 1 WHERE event = 'a' -- don't {cycle.start} here\n AND toDate('{cycle.end}') > 0",
        "SELECT 1 /* 'x {as_of}' */ WHERE timestamp <= toDateTime({as_of})",
    ):
        assert PostHogSource(connection="ph", hogql=hogql).hogql == hogql


def test_select_forms_accepted() -> None:
    for hogql in (
        "select 1",
        "-- KR\nSELECT 1",
        "/* c */ WITH x AS (SELECT 1) SELECT 1",
        "(SELECT 1)",
    ):
        assert PostHogSource(connection="ph", hogql=hogql).hogql == hogql


# -- the simulator follows PostHog -------------------------------------------


@pytest.fixture(scope="module")
def raw() -> Iterator[httpx.Client]:
    """Plain HTTP to the simulator; verify=False skips building an unused TLS context."""
    with httpx.Client(verify=False) as client:  # noqa: S501 - http:// to 127.0.0.1 only
        yield client


def post(
    raw: httpx.Client, sim: PostHogSimulator, body: Any, key: str | None = DEMO_API_KEY
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return raw.post(sim.url + PATH, json=body, headers=headers)


def hogql(query: str, **values: Any) -> dict[str, Any]:
    return {
        "query": {"kind": "HogQLQuery", "query": query, **({"values": values} if values else {})}
    }


def test_simulator_answer_shape(raw: httpx.Client, sim: PostHogSimulator) -> None:
    answer = post(
        raw, sim, hogql("SELECT count() AS n FROM events WHERE event = {e}", e="purchase")
    )
    data = answer.json()
    assert answer.status_code == 200
    assert data["columns"] == ["n"]
    assert data["types"] == [["n", "UInt64"]]
    assert (data["hasMore"], data["is_cached"], data["limit"]) == (False, False, 100)
    rows = post(raw, sim, hogql("SELECT event FROM events")).json()
    assert (len(rows["results"]), rows["hasMore"]) == (100, True)


@pytest.mark.parametrize(
    ("body", "key", "status", "code", "detail"),
    [
        (
            hogql("SELECT 1"),
            None,
            401,
            "not_authenticated",
            "Authentication credentials were not provided.",
        ),
        (
            hogql("SELECT {x}"),
            DEMO_API_KEY,
            400,
            "hogql_query_error",
            "Unresolved placeholder: {x}",
        ),
        (
            hogql("SELECT {x}", y="1"),
            DEMO_API_KEY,
            400,
            "hogql_query_error",
            "Placeholder {x} is not available in this context. You can use the following: y",
        ),
        ({"query": {"kind": "TrendsQuery"}}, DEMO_API_KEY, 400, "invalid_input", "not supported"),
        ({**hogql("SELECT 1"), "extra": 1}, DEMO_API_KEY, 400, "extra_forbidden", "Extra inputs"),
        ({"name": "x"}, DEMO_API_KEY, 400, "required", "This field is required."),
        (
            hogql("SELECT 1 FROM events WHERE event = 'a' OR event = 'b'"),
            DEMO_API_KEY,
            400,
            "hogql_query_error",
            "OR is not supported",
        ),
    ],
)
def test_simulator_rejects_what_posthog_rejects(
    raw: httpx.Client,
    sim: PostHogSimulator,
    body: Any,
    key: str | None,
    status: int,
    code: str,
    detail: str,
) -> None:
    answer = post(raw, sim, body, key)
    data = answer.json()
    assert answer.status_code == status
    assert set(data) == {"type", "code", "detail", "attr"}
    assert data["code"] == code
    assert detail in data["detail"]


def test_simulator_async_query_status(raw: httpx.Client, sim: PostHogSimulator) -> None:
    sim.pending_polls = 2
    accepted = post(raw, sim, hogql("SELECT 1"))
    status = accepted.json()["query_status"]
    assert (accepted.status_code, status["complete"], status["query_async"]) == (202, False, True)
    url = f"{sim.url}{PATH}{status['id']}/"
    auth = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    assert raw.get(url, headers=auth).status_code == 202
    done = raw.get(url, headers=auth)
    assert done.status_code == 200
    assert done.json()["query_status"]["results"]["results"] == [[1]]


def test_simulator_throttle_has_drf_detail_and_no_retry_after(
    raw: httpx.Client,
) -> None:
    with PostHogSimulator(today=lambda: TODAY, burst_limit=1) as sim:
        assert post(raw, sim, hogql("SELECT 1")).status_code == 200
        throttled = post(raw, sim, hogql("SELECT 1"))
    assert throttled.status_code == 429
    assert throttled.json()["type"] == "throttled_error"
    assert "Expected available in 60 seconds." in throttled.json()["detail"]
    assert "retry-after" not in throttled.headers


def test_simulator_has_no_future_events(raw: httpx.Client, sim: PostHogSimulator) -> None:
    assert max(e.timestamp for e in sim.events()) <= NOW
    assert max(e.timestamp for e in sim.events()).date() == TODAY
    assert post(raw, sim, hogql("SELECT count() FROM events WHERE timestamp > now()")).json()[
        "results"
    ] == [[0]]
    tomorrow = "SELECT count() FROM events WHERE timestamp >= toDateTime('2026-11-16')"
    assert post(raw, sim, hogql(tomorrow)).json()["results"] == [[0]]


def test_demo_simulator() -> None:
    sim = start_demo()
    try:
        assert measure(sim, "SELECT count() FROM events").value > 0
    finally:
        sim.stop()


# -- a whole sync into the store ---------------------------------------------


def setup(tmp_path: Path, sim: PostHogSimulator, key: str = DEMO_API_KEY) -> loader.Config:
    connections = f"""
connections:
  ph:
    type: posthog
    url: {sim.url}
    project_id: {DEMO_PROJECT_ID}
    api_key: ${{POSTHOG_KEY}}
    retry: {{attempts: 2}}
"""
    krs = {"pageviews": PAGEVIEWS, "broken": "SELECT count() FROM events WHERE nope = 1"}
    body = "".join(
        f"      - id: {kr}\n        title: {kr}\n        start: 0\n        target: 5000\n"
        f'        source:\n          connection: ph\n          hogql: "{q}"\n'
        for kr, q in krs.items()
    )
    text = (
        "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n" + body
    )
    directory = write(tmp_path / "m", {"connections.yaml": connections, "okrs.yaml": text})
    return loader.load(directory, Registry.default(), environ={"POSTHOG_KEY": key})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        yield st


def test_sync_stores_value_errors_and_keeps_last_good(
    tmp_path: Path, sim: PostHogSimulator, store: Store
) -> None:
    config = setup(tmp_path, sim)
    first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
    assert first["pageviews"].status == "ok"
    good = store.state("pageviews")
    assert good is not None
    assert (good.value or 0) > 100
    assert "with cycle_end='2026-12-31', cycle_start='2026-10-01'" in (good.query or "")
    assert first["broken"].status == "error"
    assert first["broken"].error_kind == "query"
    assert "Unable to resolve field: nope" in (first["broken"].error or "")

    sim.add_fault(PATH, Fault.status(503), times=10)
    later = NOW + timedelta(hours=2)
    second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
    assert (second["pageviews"].status, second["pageviews"].error_kind) == ("error", "transient")
    after = store.state("pageviews")
    assert after is not None
    assert (after.value, after.measured_at) == (good.value, good.measured_at)
    assert after.last_status == "error"


def test_sync_with_a_wrong_key_never_shows_it(
    tmp_path: Path, sim: PostHogSimulator, store: Store
) -> None:
    config = setup(tmp_path, sim, key=WRONG_KEY)
    records = sync_now(config, store, now=NOW, runtime=FAST).records
    for record in records:
        assert (record.status, record.error_kind) == ("error", "auth")
        assert (record.error or "").startswith("connection 'ph': HTTP 401: credentials rejected")
        stored = (record.error or "") + (record.raw or "")
        # the loader's Redactor would mask a leaked key as ***: no mask means none leaked
        assert WRONG_KEY not in stored
        assert "***" not in stored
    state = store.state("pageviews")
    assert state is not None
    assert "***" not in (state.last_error or "")
