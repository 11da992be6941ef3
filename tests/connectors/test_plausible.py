"""The plausible connector over real HTTP against the Plausible simulator, and a whole sync."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from connectors.plausible.connector import (
    CONNECTOR,
    PlausibleSettings,
    describe,
    v1_filters,
)
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.plausible import (
    DEMO_API_KEY,
    DEMO_SITE_ID,
    PlausibleSimulator,
    metric_values,
    start_demo,
)
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import metric_value
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
HARNESS = Harness(CONNECTOR, CTX, "pl")
SO_FAR = (date(2026, 10, 1), TODAY)  # date_range: cycle
V2, V1 = "/api/v2/query", "/api/v1/stats/aggregate"
PRICING = ["is", "event:page", ["/pricing", "/docs"]]
WRONG_KEY = "wrong-plausible-key-123456"


@pytest.fixture
def sim() -> Iterator[PlausibleSimulator]:
    with PlausibleSimulator(today=lambda: TODAY) as server:
        yield server


source = HARNESS.source


def measure_all(
    sim: PlausibleSimulator,
    sources: list[dict[str, Any]],
    sleeps: Sleeps | None = None,
    *,
    concurrent: bool = False,
    **settings: Any,
) -> list[Reading | MeasureError]:
    """Each source's reading or error through one connection (one TLS setup, ~0.3 s)."""
    base = {"type": "plausible", "url": sim.url, "api_key": DEMO_API_KEY}
    config = HARNESS.settings(base, **settings)
    return HARNESS.measure_all(config, sources, sleeps, concurrent=concurrent)


def measure(sim: PlausibleSimulator, src: dict[str, Any], **settings: Any) -> Reading:
    [result] = measure_all(sim, [src], **settings)
    if isinstance(result, MeasureError):
        raise result
    return result


def fails(sim: PlausibleSimulator, src: dict[str, Any], **settings: Any) -> MeasureError:
    [result] = measure_all(sim, [src], **settings)
    assert isinstance(result, MeasureError), result
    return result


def expected(
    metric: str, filters: list[Any] | None = None, span: tuple[date, date] = SO_FAR
) -> float:
    return float(metric_values([metric], filters or [], *span, TODAY)[metric])


METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]


def test_every_classic_metric_over_v2(sim: PlausibleSimulator) -> None:
    readings = measure_all(sim, [{"metric": m, "site_id": DEMO_SITE_ID} for m in METRICS])
    for metric, reading in zip(METRICS, readings, strict=True):
        assert isinstance(reading, Reading), metric
        assert (reading.value, reading.calls) == (expected(metric), 1), metric
    body = sim.requests[0].json()
    assert body == {
        "site_id": DEMO_SITE_ID,
        "metrics": ["visitors"],
        "date_range": ["2026-10-01", "2026-11-15"],
    }
    assert sim.requests[0].headers["authorization"] == f"Bearer {DEMO_API_KEY}"
    assert {r.path for r in sim.requests} == {V2}


def test_demo_numbers_follow_the_stats_metrics(sim: PlausibleSimulator) -> None:
    span = (date(2026, 10, 1), date(2026, 12, 31))
    [pageviews, duration] = measure_all(
        sim,
        [
            {"metric": "pageviews", "date_range": "full_cycle"},
            {"metric": "visit_duration", "date_range": "full_cycle"},
        ],
        site_id=DEMO_SITE_ID,
    )
    assert isinstance(pageviews, Reading)
    assert isinstance(duration, Reading)
    assert pageviews.value == round(metric_value("website_pageviews", *span, TODAY))
    assert duration.value == round(metric_value("avg_session_duration_seconds", *span, TODAY))


def test_date_ranges_are_sent_as_days(sim: PlausibleSimulator) -> None:
    ranges: list[Any] = [
        "full_cycle",
        "last_28_days",
        {"start": "{cycle.start}", "end": "{as_of}"},
        {"start": "2026-01-01", "end": "2026-03-31"},
    ]
    measure_all(
        sim, [{"metric": "visitors", "date_range": r} for r in ranges], site_id=DEMO_SITE_ID
    )
    sent = [r.json()["date_range"] for r in sim.requests]
    assert sent == [
        ["2026-10-01", "2026-12-31"],
        ["2026-10-18", "2026-11-14"],
        ["2026-10-01", "2026-11-15"],
        ["2026-01-01", "2026-03-31"],
    ]


def test_filters_are_sent_verbatim_and_event_is_shorthand(sim: PlausibleSimulator) -> None:
    readings = measure_all(
        sim,
        [
            {"metric": "visitors", "filters": [PRICING]},
            {"event": "Signup"},
            {"event": "Signup", "metric": "visitors", "filters": [PRICING]},
        ],
        site_id=DEMO_SITE_ID,
    )
    bodies = [r.json() for r in sim.requests]
    assert bodies[0]["filters"] == [PRICING]
    signup = ["is", "event:name", ["Signup"]]
    assert (bodies[1]["metrics"], bodies[1]["filters"]) == (["events"], [signup])
    assert (bodies[2]["metrics"], bodies[2]["filters"]) == (["visitors"], [PRICING, signup])
    assert [r.value for r in readings if isinstance(r, Reading)] == [
        expected("visitors", [PRICING]),
        expected("events", [signup]),
        expected("visitors", [PRICING, signup]),
    ]
    assert expected("visitors", [PRICING]) < expected("visitors")


def test_site_id_from_source_or_connection(sim: PlausibleSimulator) -> None:
    sim.sites = (DEMO_SITE_ID, "shop.example.com")
    measure_all(
        sim,
        [{"metric": "visits"}, {"metric": "visits", "site_id": "shop.example.com"}],
        site_id=DEMO_SITE_ID,
    )
    assert [r.json()["site_id"] for r in sim.requests] == [DEMO_SITE_ID, "shop.example.com"]
    error = fails(sim, {"metric": "visits"})
    assert isinstance(error, QueryError)
    assert "no site_id" in str(error)


# -- v2, v1 and the fallback ---------------------------------------------------


def test_auto_falls_back_to_v1_once_per_connection(sim: PlausibleSimulator) -> None:
    sim.v2 = False
    srcs = [{"metric": "visitors", "filters": [PRICING]}, {"metric": "pageviews"}]
    first, second = measure_all(sim, srcs, site_id=DEMO_SITE_ID)
    assert isinstance(first, Reading)
    assert isinstance(second, Reading)
    assert (first.value, first.calls) == (expected("visitors", [PRICING]), 2)
    assert (second.value, second.calls) == (expected("pageviews"), 1)
    assert [r.path for r in sim.requests] == [V2, V1, V1]
    assert sim.requests[1].query == {
        "site_id": DEMO_SITE_ID,
        "period": "custom",
        "date": "2026-10-01,2026-11-15",
        "metrics": "visitors",
        "filters": "event:page==/pricing|/docs",
    }


def test_auto_probes_once_even_when_queries_run_together(sim: PlausibleSimulator) -> None:
    sim.v2 = False
    srcs = [{"metric": m} for m in METRICS]
    readings = measure_all(sim, srcs, concurrent=True, site_id=DEMO_SITE_ID)
    assert all(isinstance(r, Reading) for r in readings)
    assert [r.path for r in sim.requests].count(V2) == 1
    assert len(sim.requests) == 1 + len(METRICS)


def test_auto_keeps_v2_after_a_query_error(sim: PlausibleSimulator) -> None:
    bad, good = measure_all(sim, [{"metric": "foo"}, {"metric": "visits"}], site_id=DEMO_SITE_ID)
    assert isinstance(bad, QueryError)
    assert isinstance(good, Reading)
    assert [r.path for r in sim.requests] == [V2, V2]


def test_explicit_versions(sim: PlausibleSimulator) -> None:
    v1 = measure(sim, {"metric": "visits"}, site_id=DEMO_SITE_ID, api_version="v1")
    assert v1.value == expected("visits")
    assert [r.path for r in sim.requests] == [V1]
    sim.v2 = False
    error = fails(sim, {"metric": "visits"}, site_id=DEMO_SITE_ID, api_version="v2")
    assert isinstance(error, QueryError)
    assert "no Stats API v2; set api_version: v1" in str(error)


def test_v1_filter_translation() -> None:
    assert v1_filters([PRICING, ["is_not", "visit:source", ["Google"]]]) == (
        "event:page==/pricing|/docs;visit:source!=Google"
    )
    assert v1_filters([["is", "visit:city", [2643743]]]) == "visit:city==2643743"


@pytest.mark.parametrize(
    "item",
    [
        ["contains", "event:page", ["/blog"]],
        ["and", [PRICING]],
        ["is", "event:page", ["/a|b"]],
        ["is", "event:page", ["/blog/*"]],
        ["is", "event:page", []],
        ["is", "event:page", ["/a"], {"case_sensitive": False}],
    ],
)
def test_v1_refuses_what_it_cannot_say(sim: PlausibleSimulator, item: list[Any]) -> None:
    error = fails(
        sim, {"metric": "visitors", "filters": [item]}, site_id=DEMO_SITE_ID, api_version="v1"
    )
    assert isinstance(error, QueryError)
    assert "has no Stats API v1 form" in str(error)
    assert sim.requests == []


# -- errors ----------------------------------------------------------------------


def test_query_errors_carry_plausibles_message(sim: PlausibleSimulator) -> None:
    cases = [
        ({"metric": "foo"}, 'HTTP 400 from POST /api/v2/query: #/metrics/0: Invalid metric "foo"'),
        (
            {"metric": "visitors", "filters": [["is", "visit:name", ["x"]]]},
            '#/filters/0: Invalid filter ["is", "visit:name", ["x"]]',
        ),
        (
            {"event": "Nope", "filters": [["is", "event:goal", ["Nope"]]]},
            "The goal `Nope` is not configured for this site.",
        ),
    ]
    errors = measure_all(sim, [c for c, _ in cases], site_id=DEMO_SITE_ID)
    for (case, said), error in zip(cases, errors, strict=True):
        assert isinstance(error, QueryError), case
        assert said in str(error), case
    assert len(sim.requests) == len(cases)


def test_v1_errors_carry_plausibles_message(sim: PlausibleSimulator) -> None:
    cases = [
        ({"metric": "foo"}, "The metric `foo` is not recognized."),
        (
            {"event": "Signup", "metric": "visits"},
            "Session metric `visits` cannot be queried when using a filter on `event:name`.",
        ),
    ]
    errors = measure_all(sim, [c for c, _ in cases], site_id=DEMO_SITE_ID, api_version="v1")
    for (case, said), error in zip(cases, errors, strict=True):
        assert isinstance(error, QueryError), case
        assert str(error).startswith(f"HTTP 400 from GET {V1}: "), case
        assert said in str(error), case


@pytest.mark.parametrize(
    ("settings", "status", "said"),
    [
        ({"api_key": WRONG_KEY}, 401, "Invalid API key or site ID."),
        ({"site_id": "unknown.example"}, 401, "Invalid API key or site ID."),
    ],
)
def test_rejected_credentials(
    sim: PlausibleSimulator, settings: dict[str, Any], status: int, said: str
) -> None:
    error = fails(sim, {"metric": "visitors"}, **{"site_id": DEMO_SITE_ID, **settings})
    assert isinstance(error, AuthError)
    assert str(error).startswith(f"HTTP {status}: credentials rejected (POST {V2}): {said}")
    assert WRONG_KEY not in str(error)
    assert len(sim.requests) == 1


def test_plan_without_stats_api(sim: PlausibleSimulator) -> None:
    sim.stats_api = False
    error = fails(sim, {"metric": "visitors"}, site_id=DEMO_SITE_ID)
    assert isinstance(error, AuthError)
    assert "HTTP 402: the plan has no Stats API access" in str(error)
    assert "does not have access to Stats API" in str(error)


def test_hourly_limit_is_quota_not_retried() -> None:
    with PlausibleSimulator(today=lambda: TODAY, hourly_limit=1) as sim:
        first, second = measure_all(
            sim, [{"metric": "visitors"}, {"metric": "visits"}], site_id=DEMO_SITE_ID
        )
        assert len(sim.requests) == 2
    assert isinstance(first, Reading)
    assert isinstance(second, QuotaError)
    assert "limited to 1 requests per hour" in str(second)


def test_5xx_storm_exhausts_attempts(sim: PlausibleSimulator) -> None:
    sim.add_fault(V2, Fault.status(502, b"<html>Bad Gateway</html>"), times=10)
    sleeps = Sleeps()
    [error] = measure_all(
        sim, [{"metric": "visitors"}], sleeps, site_id=DEMO_SITE_ID, retry={"attempts": 3}
    )
    assert isinstance(error, TransientError)
    assert "HTTP 502 from POST /api/v2/query" in str(error)
    assert (len(sim.requests), len(sleeps.waits)) == (3, 2)


def test_429_from_a_proxy_with_retry_after_is_waited_out(sim: PlausibleSimulator) -> None:
    sim.add_fault(V2, Fault.status(429, b"slow down", headers={"Retry-After": "4"}))
    sleeps = Sleeps()
    [reading] = measure_all(sim, [{"metric": "visitors"}], sleeps, site_id=DEMO_SITE_ID)
    assert isinstance(reading, Reading)
    assert (reading.calls, sleeps.waits) == (2, [4.0])


def test_timeout_and_reset_are_transient(sim: PlausibleSimulator) -> None:
    sim.add_fault(V2, Fault.hang(5), times=2)
    error = fails(
        sim, {"metric": "visitors"}, site_id=DEMO_SITE_ID, timeout=0.2, retry={"attempts": 2}
    )
    assert isinstance(error, TransientError)
    assert str(error) == f"POST {V2} timed out after 0.2s"
    sim.add_fault(V2, Fault.reset())
    assert measure(sim, {"metric": "visitors"}, site_id=DEMO_SITE_ID).calls == 2


def test_unusable_answers(sim: PlausibleSimulator) -> None:
    bodies = [
        (b'{"results": [{"metrics": [null], "dimensions": []}]}', "is null, not a number"),
        (b'{"results": [{"metrics": [NaN], "dimensions": []}]}', "NaN, not a finite number"),
        (b'{"results": [{"metrics": ["n/a"], "dimensions": []}]}', '"n/a", not a number'),
        (b'{"results": []}', "no results[0].metrics[0]"),
        (b"<html>maintenance</html>", "response is not JSON"),
    ]
    for body, _ in bodies:
        sim.add_fault(V2, Fault.status(200, body))
    errors = measure_all(sim, [{"metric": "scroll_depth"}] * len(bodies), site_id=DEMO_SITE_ID)
    for (body, message), error in zip(bodies, errors, strict=True):
        assert isinstance(error, SourceDataError), body
        assert message in str(error), body
    sim.clear_requests()
    sim.add_fault(V1, Fault.status(200, {"results": {"visitors": {"value": None}}}))
    [v1] = measure_all(sim, [{"metric": "visitors"}], site_id=DEMO_SITE_ID, api_version="v1")
    assert isinstance(v1, SourceDataError)
    assert "Plausible's visitors (no data in the window?) is null" in str(v1)


def test_describe() -> None:
    rendered = CONNECTOR.render(
        source(metric="visitors", filters=[PRICING], site_id="a.example"), CTX
    )  # type: ignore[misc]
    assert describe(rendered) == (
        'visitors of a.example, 2026-10-01..2026-11-15, filters [["is", "event:page", ["/pricing", "/docs"]]]'
    )
    event = CONNECTOR.render(source(event="Signup", date_range="last_7_days"), CTX)  # type: ignore[misc]
    assert describe(event) == (
        "events of the connection's site, 2026-11-08..2026-11-14, "
        'filters [["is", "event:name", ["Signup"]]]'
    )


# -- models --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "needs metric"),
        ({"metric": "Visitors"}, "should match pattern"),
        ({"event": " "}, "event is empty"),
        ({"metric": "visitors", "date_range": "last_week"}, "use cycle, full_cycle, last_N_days"),
        (
            {"metric": "visitors", "filters": [[1, "event:page", ["/"]]]},
            r"write \[operator, dimension",
        ),
        ({"metric": "visitors", "filters": "event:page==/"}, "filters"),
        ({"metric": "visitors", "period": "30d"}, "Extra inputs"),
    ],
)
def test_source_validation(data: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        source(**data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "plausible.example.com"}, "must start with http"),
        ({"url": "ftp://plausible.io"}, "must start with http"),
        ({"api_key": ""}, "api_key is empty"),
        ({"api_version": "v3"}, "api_version"),
        ({"token": "x"}, "Extra inputs"),
    ],
)
def test_settings_validation(data: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        PlausibleSettings.model_validate({"type": "plausible", "api_key": "k", **data})


def test_settings_defaults() -> None:
    settings = PlausibleSettings(type="plausible", api_key="k")
    assert (settings.url, settings.api_version, settings.site_id) == (
        "https://plausible.io",
        "auto",
        None,
    )


def test_url_with_a_trailing_slash(sim: PlausibleSimulator) -> None:
    """httpx joins ``base_url`` and the API path whether or not the url ends in ``/``."""
    reading = measure(sim, {"metric": "visitors"}, site_id=DEMO_SITE_ID, url=f"{sim.url}/")
    assert reading.value == expected("visitors")
    assert [r.path for r in sim.requests] == [V2]


# -- the simulator follows Plausible -------------------------------------------


@pytest.fixture(scope="module")
def raw() -> Iterator[httpx.Client]:
    """Plain HTTP to the simulator; verify=False skips building an unused TLS context."""
    with httpx.Client(verify=False) as client:  # noqa: S501 - http:// to 127.0.0.1 only
        yield client


AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def test_simulator_v2_answer_shape(raw: httpx.Client, sim: PlausibleSimulator) -> None:
    body = {"site_id": DEMO_SITE_ID, "metrics": ["visitors", "pageviews"], "date_range": "7d"}
    data = raw.post(sim.url + V2, json=body, headers=AUTH).json()
    assert set(data) == {"results", "meta", "query"}
    [row] = data["results"]
    assert row["dimensions"] == []
    span = (TODAY - timedelta(days=6), TODAY)
    assert row["metrics"] == [expected("visitors", span=span), expected("pageviews", span=span)]
    assert data["query"]["date_range"] == ["2026-11-09T00:00:00+00:00", "2026-11-15T23:59:59+00:00"]


def test_simulator_future_days_hold_no_data(raw: httpx.Client, sim: PlausibleSimulator) -> None:
    body = {
        "site_id": DEMO_SITE_ID,
        "metrics": ["visitors"],
        "date_range": ["2026-12-01", "2026-12-31"],
    }
    assert raw.post(sim.url + V2, json=body, headers=AUTH).json()["results"][0]["metrics"] == [0]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (
            {"site_id": DEMO_SITE_ID},
            {},
            401,
            "Missing API key. Please use a valid Plausible API key as a Bearer Token.",
        ),
        (
            {"metrics": ["visitors"], "date_range": "7d"},
            AUTH,
            400,
            "Missing site ID. Please provide the required site_id parameter with your request.",
        ),
        (
            {
                "site_id": DEMO_SITE_ID,
                "metrics": ["visitors"],
                "date_range": "7d",
                "date": "2026-01-01",
            },
            AUTH,
            400,
            "#/date: Schema does not allow additional properties.",
        ),
        (
            {"site_id": DEMO_SITE_ID, "metrics": ["visitors", "visitors"], "date_range": "7d"},
            AUTH,
            400,
            "#/metrics: Expected items to be unique but they were not.",
        ),
        (
            {"site_id": DEMO_SITE_ID, "metrics": ["visitors"], "date_range": "realtime"},
            AUTH,
            400,
            '#/date_range: Invalid date range "realtime"',
        ),
        (
            {"site_id": DEMO_SITE_ID, "metrics": ["visitors"]},
            AUTH,
            400,
            "#: Required property date_range was not present.",
        ),
        (
            {
                "site_id": DEMO_SITE_ID,
                "metrics": ["visitors"],
                "date_range": "7d",
                "filters": [["exists?", "event:name", ["a"]]],
            },
            AUTH,
            400,
            '#/filters/0: Invalid filter ["exists?", "event:name", ["a"]]',
        ),
        (
            {
                "site_id": DEMO_SITE_ID,
                "metrics": ["visitors"],
                "date_range": "7d",
                "dimensions": ["visit:source"],
            },
            AUTH,
            400,
            "dimensions are not supported by the okrsync Plausible simulator",
        ),
    ],
)
def test_simulator_v2_rejects_what_plausible_rejects(
    raw: httpx.Client,
    sim: PlausibleSimulator,
    body: Any,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    answer = raw.post(sim.url + V2, json=body, headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"error": error}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"period": "week"}, "Error parsing `period` parameter: invalid period `week`."),
        ({"period": "custom"}, "The `date` parameter is required when using a custom period."),
        ({"period": "custom", "date": "2026-10-01"}, "Invalid format for `date` parameter."),
        ({"filters": "visit:nope==1"}, "Invalid filter property 'visit:nope'."),
        ({"metrics": "visitors,visitors"}, "Metrics cannot be queried multiple times."),
        (
            {"metrics": "views_per_visit", "filters": "event:page==/"},
            "Metric `views_per_visit` cannot be queried with a filter on `event:page`.",
        ),
    ],
)
def test_simulator_v1_rejects_what_plausible_rejects(
    raw: httpx.Client, sim: PlausibleSimulator, params: dict[str, str], error: str
) -> None:
    answer = raw.get(sim.url + V1, params={"site_id": DEMO_SITE_ID, **params}, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error)


def test_simulator_v1_answer_shape(raw: httpx.Client, sim: PlausibleSimulator) -> None:
    params = {"site_id": DEMO_SITE_ID, "period": "30d", "metrics": "visitors,bounce_rate"}
    data = raw.get(sim.url + V1, params=params, headers=AUTH).json()
    span = (TODAY - timedelta(days=29), TODAY)
    assert data == {
        "results": {
            "visitors": {"value": expected("visitors", span=span)},
            "bounce_rate": {"value": expected("bounce_rate", span=span)},
        }
    }


def test_simulator_rate_limit_and_missing_v2(raw: httpx.Client) -> None:
    with PlausibleSimulator(today=lambda: TODAY, hourly_limit=1) as sim:
        params = {"site_id": DEMO_SITE_ID}
        assert raw.get(sim.url + V1, params=params, headers=AUTH).status_code == 200
        limited = raw.get(sim.url + V1, params=params, headers=AUTH)
        sim.v2 = False
        missing = raw.post(sim.url + V2, json={})
    assert limited.status_code == 429
    assert limited.json()["error"].startswith(
        "Too many API requests. Your API key is limited to 1 requests per hour."
    )
    assert "retry-after" not in limited.headers
    assert missing.status_code == 404  # before any authentication, like a missing route


def test_demo_simulator() -> None:
    sim = start_demo()
    try:
        assert measure(sim, {"metric": "pageviews"}, site_id=DEMO_SITE_ID).value > 0
    finally:
        sim.stop()


# -- a whole sync into the store -------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        yield st


def setup(tmp_path: Path, sim: PlausibleSimulator, key: str = DEMO_API_KEY) -> loader.Config:
    connections = f"""
connections:
  web:
    type: plausible
    url: {sim.url}
    api_key: ${{PLAUSIBLE_KEY}}
    site_id: {DEMO_SITE_ID}
    retry: {{attempts: 2}}
"""
    sources = {
        "visitors": "metric: visitors\n          date_range: full_cycle",
        "pricing": 'metric: pageviews\n          filters: [["is", "event:page", ["/pricing"]]]',
        "typo": "metric: vistors",
    }
    body = "".join(
        f"      - id: {kr}\n        title: {kr}\n        start: 0\n        target: 500000\n"
        f"        source:\n          connection: web\n          {src}\n"
        for kr, src in sources.items()
    )
    text = (
        "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n" + body
    )
    directory = write(tmp_path / "m", {"connections.yaml": connections, "okrs.yaml": text})
    return loader.load(directory, Registry.default(), environ={"PLAUSIBLE_KEY": key})


def test_sync_stores_values_errors_and_keeps_last_good(
    tmp_path: Path, sim: PlausibleSimulator, store: Store
) -> None:
    config = setup(tmp_path, sim)
    first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
    assert (first["visitors"].status, first["pricing"].status) == ("ok", "ok")
    visitors = store.state("visitors")
    assert visitors is not None
    assert visitors.value == expected("visitors", span=(date(2026, 10, 1), date(2026, 12, 31)))
    assert visitors.query == "visitors of the connection's site, 2026-10-01..2026-12-31"
    assert (first["typo"].status, first["typo"].error_kind) == ("error", "query")
    assert '#/metrics/0: Invalid metric "vistors"' in (first["typo"].error or "")

    sim.add_fault(V2, Fault.status(503), times=10)
    later = NOW + timedelta(hours=2)
    second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
    assert (second["visitors"].status, second["visitors"].error_kind) == ("error", "transient")
    after = store.state("visitors")
    assert after is not None
    assert (after.value, after.measured_at) == (visitors.value, visitors.measured_at)


def test_sync_with_a_wrong_key_never_shows_it(
    tmp_path: Path, sim: PlausibleSimulator, store: Store
) -> None:
    config = setup(tmp_path, sim, key=WRONG_KEY)
    for record in sync_now(config, store, now=NOW, runtime=FAST).records:
        assert (record.status, record.error_kind) == ("error", "auth")
        assert (record.error or "").startswith("connection 'web': HTTP 401: credentials rejected")
        stored = (record.error or "") + (record.raw or "")
        # the loader's Redactor would mask a leaked key as ***: no mask means none leaked
        assert WRONG_KEY not in stored
        assert "***" not in stored
    state = store.state("visitors")
    assert state is not None
    assert "***" not in (state.last_error or "")
