"""The mixpanel connector over real HTTP against MixpanelSimulator, and a whole sync into SQLite."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from connectors.mixpanel.connector import CONNECTOR, MixpanelSettings
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.mixpanel import (
    CHECKOUTS_TOTAL,
    DEMO_PROJECT_ID,
    DEMO_SECRET,
    DEMO_USERNAME,
    LIMITS_DOC,
    PURCHASES_BY_COUNTRY,
    SIGNUPS_AND_PURCHASES,
    WEEKLY_SIGNUPS,
    MixpanelSimulator,
    event_count,
    unique_users,
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
from okrsync.sdk.connector import Reading, RenderContext, Runtime
from okrsync.sdk.redaction import MASK
from okrsync.store.database import Store
from okrsync.testing.harness import Harness
from tests.support import FAST, Sleeps, sync_now, write

TODAY = date(2026, 11, 15)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
CTX = RenderContext(Cycle(name="2026-Q4", start=date(2026, 10, 1), end=date(2026, 12, 31)), NOW)
HARNESS = Harness(CONNECTOR, CTX, "mp")
SEG = r"/api/query/segmentation"
CYCLE_DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(46)]  # Oct 1 .. Nov 15


@pytest.fixture
def sim() -> Iterator[MixpanelSimulator]:
    with MixpanelSimulator(today=lambda: TODAY) as server:
        yield server


def settings(url: str, **extra: Any) -> MixpanelSettings:
    base = {
        "type": "mixpanel",
        "url": url,
        "username": DEMO_USERNAME,
        "secret": DEMO_SECRET,
        "project_id": DEMO_PROJECT_ID,
    }
    return MixpanelSettings.model_validate({**base, **extra})


source = HARNESS.source


def measure(
    url: str, fields: dict[str, Any], sleeps: Sleeps | None = None, **extra: Any
) -> Reading:
    return HARNESS.measure(settings(url, **extra), fields, sleeps)


def fails(url: str, fields: dict[str, Any], **extra: Any) -> MeasureError:
    return HARNESS.fails(settings(url, **extra), fields)


def test_general_sums_the_days_of_the_cycle_so_far(sim: MixpanelSimulator) -> None:
    reading = measure(sim.url, {"event": "Signed Up"})
    assert reading.value == sum(event_count("Signed Up", d, TODAY) for d in CYCLE_DAYS)
    assert reading.calls == 1
    assert reading.raw.startswith('{"data": {"series": ["2026-10-01"')
    (sent,) = sim.requests
    assert sent.path == "/api/query/segmentation"
    assert sent.query == {
        "project_id": str(DEMO_PROJECT_ID),
        "event": "Signed Up",
        "from_date": "2026-10-01",
        "to_date": "2026-11-15",
        "type": "general",
        "unit": "day",
    }
    token = base64.b64encode(f"{DEMO_USERNAME}:{DEMO_SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"


def test_unique_asks_one_bucket_for_the_whole_range(sim: MixpanelSimulator) -> None:
    reading = measure(sim.url, {"event": "Signed Up", "type": "unique"})
    assert reading.value == unique_users("Signed Up", CYCLE_DAYS[0], CYCLE_DAYS[-1], TODAY)
    daily_sum = sum(round(event_count("Signed Up", d, TODAY) * 0.7) for d in CYCLE_DAYS)
    assert reading.value < daily_sum  # never the sum of daily uniques
    (sent,) = sim.requests
    assert (sent.query["type"], sent.query["interval"]) == ("unique", "46")
    assert "unit" not in sent.query


def test_average_with_where_and_workspace(sim: MixpanelSimulator) -> None:
    where = 'properties["plan"] == "pro" and defined(properties["country"])'
    fields = {"event": "Purchase", "type": "average", "where": where}
    reading = measure(sim.url, fields, workspace_id=77)
    total = sum(event_count("Purchase", d, TODAY) for d in CYCLE_DAYS)
    people = unique_users("Purchase", CYCLE_DAYS[0], CYCLE_DAYS[-1], TODAY)
    assert reading.value == pytest.approx(total / people, abs=0.001)
    (sent,) = sim.requests
    assert (sent.query["where"], sent.query["workspace_id"]) == (where, "77")


@pytest.mark.parametrize(
    ("date_range", "first", "last"),
    [
        ("last_7_days", "2026-11-08", "2026-11-14"),
        ("full_cycle", "2026-10-01", "2026-12-31"),
        ({"start": "{cycle.start}", "end": "2026-10-31"}, "2026-10-01", "2026-10-31"),
    ],
)
def test_date_range_forms(sim: MixpanelSimulator, date_range: Any, first: str, last: str) -> None:
    reading = measure(sim.url, {"event": "Purchase", "date_range": date_range})
    days = [date.fromisoformat(first) + timedelta(n) for n in range(400)]
    in_range = [d for d in days if d <= date.fromisoformat(last)]
    assert reading.value == sum(event_count("Purchase", d, TODAY) for d in in_range)
    assert (sim.requests[0].query["from_date"], sim.requests[0].query["to_date"]) == (first, last)


def test_a_real_zero_reads_zero(sim: MixpanelSimulator) -> None:
    future = {"start": "2026-12-01", "end": "2026-12-07"}  # zero-filled days of a known event
    assert measure(sim.url, {"event": "Purchase", "date_range": future}).value == 0.0


def test_unknown_event_is_no_data_not_zero(sim: MixpanelSimulator) -> None:
    error = fails(sim.url, {"event": "Signed up"})  # wrong case
    assert isinstance(error, SourceDataError)
    assert "no data for event 'Signed up' in 2026-10-01..2026-11-15" in str(error)


def test_report_forms(sim: MixpanelSimulator) -> None:
    weekly = measure(sim.url, {"report": WEEKLY_SIGNUPS})
    last = TODAY - timedelta(days=1)
    days = [last - timedelta(days=n) for n in range(28)]
    assert weekly.value == sum(event_count("Signed Up", d, TODAY) for d in days)
    assert weekly.raw.startswith('{"computed_at"')
    # no dates are sent: the raw answer shows the report's own saved range (28 days to yesterday)
    assert f'"date_range": {{"from_date": "{days[-1]}T00:00:00+00:00"' in weekly.raw
    picked = measure(sim.url, {"report": SIGNUPS_AND_PURCHASES, "series": "Purchase"})
    assert picked.value == sum(event_count("Purchase", d, TODAY) for d in days)
    single = measure(sim.url, {"report": CHECKOUTS_TOTAL})
    assert single.value == sum(event_count("Checkout Completed", d, TODAY) for d in days)
    sent = sim.requests[0].query
    assert sent == {"project_id": str(DEMO_PROJECT_ID), "bookmark_id": str(WEEKLY_SIGNUPS)}


@pytest.mark.parametrize(
    ("fields", "kind", "words"),
    [
        (
            {"report": SIGNUPS_AND_PURCHASES},
            SourceDataError,
            'has 2 series ("Signed Up", "Purchase"); pick one with series:',
        ),
        (
            {"report": SIGNUPS_AND_PURCHASES, "series": "Refund"},
            SourceDataError,
            'has no series \'Refund\'; it has "Signed Up", "Purchase"',
        ),
        ({"report": PURCHASES_BY_COUNTRY}, SourceDataError, "is broken down by a property"),
        (
            {"report": 999},
            QueryError,
            "HTTP 404 from GET /api/query/insights: Report 999 not found",
        ),
    ],
)
def test_report_errors(
    sim: MixpanelSimulator, fields: dict[str, Any], kind: type, words: str
) -> None:
    error = fails(sim.url, fields)
    assert isinstance(error, kind)
    assert words in str(error)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            b'{"data": {"series": ["2026-10-01"], "values": {"Signed Up": {"2026-10-01": NaN}}}}',
            "on 2026-10-01 is NaN, not a finite number",
        ),
        (
            b'{"data": {"series": ["2026-10-01"], "values": {"Signed Up": {"2026-10-01": "12"}}}}',
            'is "12", not a number',
        ),
        (b'{"data": {}}', "Mixpanel answered without data.values"),
        (b'{"data": {"values": {"Signed Up": [1, 2]}}}', "without a date map for 'Signed Up'"),
    ],
)
def test_unusable_answers_are_data_errors(sim: MixpanelSimulator, body: bytes, words: str) -> None:
    sim.add_fault(SEG, Fault.status(200, body, {"Content-Type": "application/json"}))
    error = fails(sim.url, {"event": "Signed Up"})
    assert isinstance(error, SourceDataError)
    assert words in str(error)


def test_several_unique_buckets_are_never_added(sim: MixpanelSimulator) -> None:
    body = {"data": {"values": {"Signed Up": {"2026-10-01": 5, "2026-11-01": 7}}}}
    sim.add_fault(SEG, Fault.status(200, body))
    error = fails(sim.url, {"event": "Signed Up", "type": "unique"})
    assert isinstance(error, SourceDataError)
    assert "came in 2 buckets" in str(error)
    assert "count people twice" in str(error)


def test_bad_where_is_a_query_error_in_mixpanels_words(sim: MixpanelSimulator) -> None:
    error = fails(sim.url, {"event": "Purchase", "where": 'properties["plan" == "pro"'})
    assert isinstance(error, QueryError)
    assert "HTTP 400 from GET /api/query/segmentation: Failed to parse where expression" in str(
        error
    )
    assert '"request"' not in str(error)  # the vendor's message, not its whole body


def test_bad_credentials_name_the_account_never_the_secret(sim: MixpanelSimulator) -> None:
    wrong = "wrong-secret-9f8e7d"
    error = fails(sim.url, {"event": "Purchase"}, secret=wrong)
    assert isinstance(error, AuthError)
    assert f"HTTP 401: credentials rejected for service account {DEMO_USERNAME!r}" in str(error)
    assert "Unable to authenticate request" in str(error)
    assert wrong not in str(error)
    assert base64.b64encode(f"{DEMO_USERNAME}:{wrong}".encode()).decode() not in str(error)


def test_wrong_project_is_refused(sim: MixpanelSimulator) -> None:
    error = fails(sim.url, {"event": "Purchase"}, project_id=42)
    assert isinstance(error, AuthError)
    assert "HTTP 403" in str(error)
    assert "no access to project_id 42" in str(error)


def test_hourly_allowance_spent_is_quota_and_not_retried() -> None:
    with MixpanelSimulator(today=lambda: TODAY, hourly_limit=2) as sim:
        measure(sim.url, {"event": "Purchase"})
        measure(sim.url, {"event": "Signed Up"})
        error = fails(sim.url, {"event": "Page Viewed"})
        assert len(sim.requests) == 3
        assert sim.requests[-1].query["event"] == "Page Viewed"
    assert isinstance(error, QuotaError)
    assert "hourly query allowance is spent" in str(error)
    assert "1/5 queries running concurrently and 3/2 queries running in the last hour." in str(
        error
    )


def test_concurrency_429_waits_retry_after(sim: MixpanelSimulator) -> None:
    body = {
        "request": "/api/query/segmentation?project_id=1",
        "error": "Query rate limit exceeded for project_id: 1. 6/5 queries running "
        "concurrently and 12/60 queries running in the last hour. For more information, "
        "please consult our documentation at https://help.mixpanel.com/",
    }
    sim.add_fault(SEG, Fault.status(429, body, {"Retry-After": "7"}))
    sleeps = Sleeps()
    reading = measure(sim.url, {"event": "Purchase"}, sleeps)
    assert sleeps.waits == [7.0]
    assert reading.calls == 2
    assert reading.value > 0


def test_last_query_of_the_hour_is_not_a_spent_allowance(sim: MixpanelSimulator) -> None:
    """Mixpanel's counts include the refused request: 60/60 is the 60th query, still allowed."""
    body = {
        "request": "/api/query/segmentation?project_id=1",
        "error": "Query rate limit exceeded for project_id: 1. 6/5 queries running "
        "concurrently and 60/60 queries running in the last hour. For more information, "
        "please consult our documentation at https://help.mixpanel.com/",
    }
    sim.add_fault(SEG, Fault.status(429, body, {"Retry-After": "3"}))
    sleeps = Sleeps()
    reading = measure(sim.url, {"event": "Purchase"}, sleeps)
    assert sleeps.waits == [3.0]
    assert reading.calls == 2


def test_5xx_storm_gives_up_after_the_retry_budget(sim: MixpanelSimulator) -> None:
    sim.add_fault(SEG, Fault.status(503, {"error": "backend overloaded"}), times=10)
    sleeps = Sleeps()
    with pytest.raises(
        TransientError, match=r"HTTP 503 from GET /api/query/segmentation: backend overloaded"
    ):
        measure(sim.url, {"event": "Purchase"}, sleeps)
    assert len(sim.requests) == 4  # RetryConfig.attempts
    assert len(sleeps.waits) == 3


def test_timeout_is_transient(sim: MixpanelSimulator) -> None:
    sim.add_fault(SEG, Fault.hang(5))
    error = fails(sim.url, {"event": "Purchase"}, timeout=0.2, retry={"attempts": 1})
    assert isinstance(error, TransientError)
    assert "GET /api/query/segmentation timed out after 0.2s" in str(error)


def test_five_at_a_time_never_trips_the_concurrency_limit() -> None:
    with MixpanelSimulator(today=lambda: TODAY, query_seconds=0.05) as sim:
        config = settings(sim.url)
        queries = [
            CONNECTOR.render(
                source(
                    event="Purchase", date_range={"start": f"2026-10-{d:02d}", "end": "2026-11-01"}
                ),
                CTX,
            )  # type: ignore[misc]
            for d in range(1, 13)
        ]

        async def run() -> list[Reading]:
            connection = CONNECTOR.open(config, Runtime(sleep=Sleeps()))
            try:
                return await asyncio.gather(*(connection.measure(q) for q in queries))
            finally:
                await connection.aclose()

        readings = asyncio.run(run())
    assert config.max_concurrency == 5
    assert [r.calls for r in readings] == [1] * 12  # no 429, no retry


def test_settings_validation_messages() -> None:
    base = {"type": "mixpanel", "username": "u", "secret": "s", "project_id": 1}
    assert MixpanelSettings.model_validate(base).url == "https://mixpanel.com"
    proxied = {**base, "region": "eu", "url": "http://proxy.internal:8080/mp"}
    assert MixpanelSettings.model_validate(proxied).url == "http://proxy.internal:8080/mp"
    assert (
        MixpanelSettings.model_validate({**base, "region": "eu"}).url == "https://eu.mixpanel.com"
    )
    assert (
        MixpanelSettings.model_validate({**base, "region": "in"}).url == "https://in.mixpanel.com"
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"max_concurrency": 6}, "Mixpanel runs at most 5 queries at once per project"),
        ({"url": "ftp://x"}, "url must start with http:// or https://"),
        ({"region": "apac"}, "Input should be 'us', 'eu' or 'in'"),
        ({"project_id": None}, "project_id"),
    ]
    for extra, words in cases:
        with pytest.raises(pydantic.ValidationError, match=words):
            MixpanelSettings.model_validate({**base, **extra})
    with pytest.raises(pydantic.ValidationError, match="secret"):
        MixpanelSettings.model_validate({"type": "mixpanel", "username": "u", "project_id": 1})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "give either event"),
        ({"event": "A", "report": 1}, "give either event"),
        ({"report": 1, "date_range": "cycle"}, "date_range: only for event sources"),
        ({"report": 1, "type": "unique", "where": "x"}, "type, where: only for event sources"),
        ({"event": "A", "series": "B"}, "series: only for report sources"),
        ({"event": "A", "date_range": "last_week"}, "use cycle, full_cycle, last_N_days"),
        ({"event": "A", "type": "uniques"}, "'general', 'unique' or 'average'"),
        ({"event": ""}, "at least 1 character"),
    ],
)
def test_source_validation_messages(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=words):
        source(**fields)


def test_describe_reads_like_the_query() -> None:
    rendered = CONNECTOR.render(
        source(event="Purchase", type="unique", where='properties["x"] == 1'), CTX
    )  # type: ignore[misc]
    assert CONNECTOR.describe(rendered) == (
        'Segmentation "Purchase" unique where properties["x"] == 1 2026-10-01..2026-11-15'
    )
    report = CONNECTOR.render(source(report=12, series="Signed Up"), CTX)  # type: ignore[misc]
    assert CONNECTOR.describe(report) == (
        'Insights report 12 series "Signed Up", over the report\'s own saved date range '
        "(relative to now; date_range does not apply)"
    )


# -- the simulator answers as Mixpanel does ------------------------------------


def get(
    sim: MixpanelSimulator, path: str, params: dict[str, Any], auth: bool = True
) -> httpx.Response:
    creds = (DEMO_USERNAME, DEMO_SECRET) if auth else ("x", "y")
    return httpx.get(sim.url + path, params=params, auth=creds, timeout=5)


def test_simulator_rejects_what_mixpanel_rejects(sim: MixpanelSimulator) -> None:
    ok = {
        "project_id": DEMO_PROJECT_ID,
        "event": "Purchase",
        "from_date": "2026-10-01",
        "to_date": "2026-10-02",
    }
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({k: v for k, v in ok.items() if k != "project_id"}, 400, "project_id is required"),
        ({**ok, "from_date": "20261001"}, 400, "from_date is required, formatted yyyy-mm-dd"),
        ({**ok, "to_date": "2026-09-30"}, 400, "is before from_date"),
        ({**ok, "type": "uniques"}, 400, "type must be one of"),
        ({**ok, "interval": 3}, 400, "interval replaces unit only when type is unique or average"),
        ({**ok, "unit": "hour"}, 400, "unit=hour is not simulated"),
        ({**ok, "on": 'properties["x"]'}, 400, "not simulated"),
    ]
    for params, status, words in cases:
        response = get(sim, "/api/query/segmentation", params)
        assert response.status_code == status, params
        assert set(response.json()) == {"request", "error"}
        assert words in response.json()["error"]
    unauthorized = get(sim, "/api/query/segmentation", ok, auth=False)
    assert unauthorized.status_code == 401
    assert get(sim, "/api/query/insights", {"project_id": DEMO_PROJECT_ID}).status_code == 400


def test_simulator_shapes(sim: MixpanelSimulator) -> None:
    ok = {"project_id": DEMO_PROJECT_ID, "from_date": "2026-10-01", "to_date": "2026-10-02"}
    known = get(sim, "/api/query/segmentation", {**ok, "event": "Purchase"}).json()
    assert known["legend_size"] == 1
    assert known["data"]["series"] == ["2026-10-01", "2026-10-02"]
    assert all(isinstance(v, int) for v in known["data"]["values"]["Purchase"].values())
    unknown = get(sim, "/api/query/segmentation", {**ok, "event": "Nope"}).json()
    assert unknown == {
        "data": {"series": ["2026-10-01", "2026-10-02"], "values": {}},
        "legend_size": 0,
    }
    report = get(
        sim, "/api/query/insights", {"project_id": DEMO_PROJECT_ID, "bookmark_id": 1001}
    ).json()
    assert set(report) == {"computed_at", "date_range", "headers", "series"}


def test_simulator_limits_concurrency_and_the_hour() -> None:
    params: dict[str, Any] = {
        "project_id": DEMO_PROJECT_ID,
        "event": "Purchase",
        "from_date": "2026-10-01",
        "to_date": "2026-10-01",
    }
    with MixpanelSimulator(today=lambda: TODAY, query_seconds=0.5) as sim:
        statuses: list[httpx.Response] = []
        lock = threading.Lock()
        together = threading.Barrier(6)

        def one() -> None:
            auth = (DEMO_USERNAME, DEMO_SECRET)
            with httpx.Client(base_url=sim.url, auth=auth, timeout=5) as client:
                together.wait()  # clients are built: the six requests leave at once
                response = client.get("/api/query/segmentation", params=params)
            with lock:
                statuses.append(response)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    refused = [r for r in statuses if r.status_code == 429]
    assert len(refused) == 1
    assert refused[0].json()["error"] == (
        f"Query rate limit exceeded for project_id: {DEMO_PROJECT_ID}. 6/5 queries running "
        "concurrently and 6/60 queries running in the last hour. For more information, please consult our "
        f"documentation at {LIMITS_DOC}"
    )
    assert refused[0].headers["Retry-After"] == "10"
    ticks = iter([0.0, 10.0, 20.0])
    with MixpanelSimulator(today=lambda: TODAY, hourly_limit=2, clock=lambda: next(ticks)) as sim:
        for _ in range(2):
            assert get(sim, "/api/query/segmentation", params).status_code == 200
        spent = get(sim, "/api/query/segmentation", params)
    assert spent.status_code == 429
    assert spent.headers["Retry-After"] == "3580"  # when the first query leaves the hour
    assert spent.json()["error"] == (
        f"Query rate limit exceeded for project_id: {DEMO_PROJECT_ID}. 1/5 queries running "
        "concurrently and 3/2 queries running in the last hour. For more information, please consult our "
        f"documentation at {LIMITS_DOC}"
    )


# -- a whole sync into a real store --------------------------------------------


def sync_config(tmp_path: Path, sim: MixpanelSimulator, secret: str = DEMO_SECRET) -> loader.Config:
    connections = f"""
connections:
  mixpanel:
    type: mixpanel
    url: {sim.url}
    username: {DEMO_USERNAME}
    secret: ${{MP_SECRET}}
    project_id: {DEMO_PROJECT_ID}
"""
    sources = {
        "signups": "event: Signed Up",
        "buyers": "event: Purchase\n          type: unique",
        "weekly": f"report: {WEEKLY_SIGNUPS}",
        "typo": "event: Signed up",
    }
    krs = "".join(
        f"      - id: {kr_id}\n        title: {kr_id}\n        owner: o@example.com\n"
        f"        start: 0\n        target: 100000\n"
        f"        source:\n          connection: mixpanel\n          {text}\n"
        for kr_id, text in sources.items()
    )
    okrs = (
        f"cycle: 2026-Q4\nobjectives:\n  - id: growth\n    title: Growth\n    key_results:\n{krs}"
    )
    directory = write(tmp_path / "m", {"connections.yaml": connections, "okrs.yaml": okrs})
    return loader.load(directory, Registry.default(), environ={"MP_SECRET": secret})


def test_sync_stores_values_errors_and_keeps_the_last_good_value(
    tmp_path: Path, sim: MixpanelSimulator
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        config = sync_config(tmp_path, sim)
        first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
        assert {k: r.status for k, r in first.items()} == {
            "signups": "ok",
            "buyers": "ok",
            "weekly": "ok",
            "typo": "error",
        }
        assert first["typo"].error_kind == "source_data"
        assert "no data for event 'Signed up'" in (first["typo"].error or "")
        states = store.states()
        assert states["signups"].value == sum(
            event_count("Signed Up", d, TODAY) for d in CYCLE_DAYS
        )
        assert states["signups"].query == 'Segmentation "Signed Up" general 2026-10-01..2026-11-15'
        assert states["weekly"].query == (
            f"Insights report {WEEKLY_SIGNUPS}, over the report's own saved date range "
            "(relative to now; date_range does not apply)"
        )

        sim.add_fault(SEG, Fault.status(503, {"error": "down"}), times=100)
        later = NOW + timedelta(hours=2)
        second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
        assert (second["signups"].status, second["signups"].error_kind) == ("error", "transient")
        assert second["weekly"].status == "ok"  # insights is another path
        after = store.state("signups")
        assert after is not None
        assert (after.value, after.measured_at) == (
            states["signups"].value,
            states["signups"].measured_at,
        )
        assert (
            after.last_error
            == "connection 'mixpanel': HTTP 503 from GET /api/query/segmentation: down"
        )


def test_sync_with_a_wrong_secret_never_stores_it(tmp_path: Path, sim: MixpanelSimulator) -> None:
    wrong = "not-the-secret-5a5a5a"
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        records = sync_now(sync_config(tmp_path, sim, wrong), store, now=NOW, runtime=FAST).records
        for record in records:
            assert (record.status, record.error_kind) == ("error", "auth")
            assert (record.error or "").startswith("connection 'mixpanel': HTTP 401")
            stored = (record.error or "") + (record.raw or "")
            assert wrong not in stored
            assert MASK not in stored  # not redacted away afterwards: it was never there
        dumped = json.dumps([vars(s) for s in store.states().values()], default=str)
        assert wrong not in dumped
        assert MASK not in dumped
