"""The amplitude connector over real HTTP against AmplitudeSimulator, and a whole sync into SQLite."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from connectors.amplitude import CONNECTOR, AmplitudeSettings
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.amplitude import (
    DEMO_API_KEY,
    DEMO_SECRET_KEY,
    AmplitudeSimulator,
    metric_values,
)
from okrsync.demo.simulators.mixpanel import event_count, where_share
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
HARNESS = Harness(CONNECTOR, CTX, "amp")
SEG = r"/api/2/events/segmentation"
LIST = r"/api/2/events/list"
FIRST, LAST = date(2026, 10, 1), date(2026, 11, 15)  # the cycle so far
PRO = {
    "subprop_type": "user",
    "subprop_key": "gp:plan",
    "subprop_op": "is",
    "subprop_value": ["pro"],
}


@pytest.fixture
def sim() -> Iterator[AmplitudeSimulator]:
    with AmplitudeSimulator(today=lambda: TODAY) as server:
        yield server


def settings(url: str, **extra: Any) -> AmplitudeSettings:
    base = {"type": "amplitude", "url": url, "api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY}
    return AmplitudeSettings.model_validate({**base, **extra})


source = HARNESS.source


def measure(
    url: str, fields: dict[str, Any], sleeps: Sleeps | None = None, **extra: Any
) -> Reading:
    return HARNESS.measure(settings(url, **extra), fields, sleeps)


def fails(url: str, fields: dict[str, Any], **extra: Any) -> MeasureError:
    return HARNESS.fails(settings(url, **extra), fields)


def segs(sim: AmplitudeSimulator) -> list[Any]:
    return [r for r in sim.requests if r.path == SEG]


def lists(sim: AmplitudeSimulator) -> int:
    return sum(r.path == LIST for r in sim.requests)


def expected(metric: str, event: str, share: float = 1.0) -> float:
    return float(metric_values(metric, event, FIRST, LAST, TODAY, share)[1])


def test_totals_is_the_default_and_sums_the_days(sim: AmplitudeSimulator) -> None:
    reading = measure(sim.url, {"event": "Purchase"})
    days = [FIRST + timedelta(days=n) for n in range(46)]
    assert reading.value == sum(event_count("Purchase", d, TODAY) for d in days)
    assert reading.calls == 2  # the events list (the name is checked), then the query
    assert reading.raw.startswith('{"data": {"series": [[')
    listed, sent = sim.requests
    assert (listed.method, listed.path, listed.query) == ("GET", LIST, {})
    assert sent.query == {
        "e": '{"event_type":"Purchase"}',
        "start": "20261001",
        "end": "20261115",
        "m": "totals",
        "i": "1",
    }
    token = base64.b64encode(f"{DEMO_API_KEY}:{DEMO_SECRET_KEY}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"


def test_uniques_are_people_over_the_range_not_a_sum(sim: AmplitudeSimulator) -> None:
    reading = measure(sim.url, {"event": "Signed Up", "metric": "uniques"})
    assert reading.value == expected("uniques", "Signed Up")
    daily = metric_values("uniques", "Signed Up", FIRST, LAST, TODAY, 1.0)[0]
    assert reading.value < sum(daily)


@pytest.mark.parametrize("metric", ["pct_dau", "average"])
def test_range_wide_metrics_read_the_collapsed_value(sim: AmplitudeSimulator, metric: str) -> None:
    reading = measure(sim.url, {"event": "Checkout Completed", "metric": metric})
    assert reading.value == expected(metric, "Checkout Completed")
    assert segs(sim)[0].query["m"] == metric


def test_any_active_event(sim: AmplitudeSimulator) -> None:
    reading = measure(sim.url, {"event": "_active", "metric": "uniques"})
    assert reading.value == expected("uniques", "_active")
    assert reading.value > 0
    assert (reading.calls, lists(sim)) == (1, 0)  # _active, _all, ce: are not in the list


def test_custom_events_are_not_checked_against_the_list(sim: AmplitudeSimulator) -> None:
    reading = measure(sim.url, {"event": "ce:Big Purchase"})
    assert (reading.value, reading.calls, lists(sim)) == (0.0, 1, 0)


def test_filters_are_sent_as_written_with_placeholders_filled(sim: AmplitudeSimulator) -> None:
    since = {**PRO, "subprop_key": "gp:signup_day", "subprop_op": "greater or equal"}
    since["subprop_value"] = ["{cycle.start}"]
    reading = measure(sim.url, {"event": "Purchase", "metric": "uniques", "filters": [PRO, since]})
    sent = json.loads(segs(sim)[0].query["e"])
    filled = {**since, "subprop_value": ["2026-10-01"]}
    assert sent == {"event_type": "Purchase", "filters": [PRO, filled]}
    share = where_share(json.dumps(PRO, sort_keys=True)) * where_share(
        json.dumps(filled, sort_keys=True)
    )
    assert reading.value == expected("uniques", "Purchase", share)


def test_an_unknown_event_is_a_query_error_naming_it(sim: AmplitudeSimulator) -> None:
    error = fails(sim.url, {"event": "Purchse"})
    assert isinstance(error, QueryError)
    assert str(error) == (
        "Amplitude project has no event 'Purchse' (GET /api/2/events/list; names are "
        "case-sensitive, use the raw name, not the display name); did you mean 'Purchase'?"
    )
    assert segs(sim) == []  # Amplitude would have answered zeros
    assert lists(sim) == 1


def test_a_deleted_event_is_a_query_error(sim: AmplitudeSimulator) -> None:
    error = fails(sim.url, {"event": "Legacy Checkout"})
    assert isinstance(error, QueryError)
    assert str(error) == "Amplitude event 'Legacy Checkout' is deleted in the project"
    assert segs(sim) == []


def test_the_events_list_is_fetched_once_for_many_measures(sim: AmplitudeSimulator) -> None:
    events = ["Purchase", "Signed Up", "Checkout Completed", "Purchase", "_all", "Page Viewed"]
    queries = [CONNECTOR.render(source(event=e), CTX) for e in events]  # type: ignore[misc]
    sim.latency = 0.05  # the measures overlap while the list is on its way

    async def run() -> list[Reading]:
        connection = CONNECTOR.open(settings(sim.url), Runtime(sleep=Sleeps()))
        try:
            return list(await asyncio.gather(*(connection.measure(q) for q in queries)))
        finally:
            await connection.aclose()

    readings = asyncio.run(run())
    assert lists(sim) == 1
    assert len(segs(sim)) == len(events)
    assert sum(r.calls for r in readings) == 1 + len(events)  # the list is counted once
    assert readings[0].value == expected("totals", "Purchase") > 0


def test_an_unusable_events_list_is_a_data_error(sim: AmplitudeSimulator) -> None:
    sim.add_fault(LIST, Fault.status(200, {"events": []}))
    error = fails(sim.url, {"event": "Purchase"})
    assert isinstance(error, SourceDataError)
    assert "Amplitude answered without the events list's data" in str(error)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {"series": [], "seriesLabels": []},
            "Amplitude has no data for event 'Purchase' in 2026-10-01..2026-11-15",
        ),
        (
            {"series": [[1], [2]], "seriesLabels": ["US", "DE"]},
            'Amplitude answered 2 series ("US", "DE") for \'Purchase\', expected one',
        ),
        ({"series": [[1, "x"]]}, "totals of 'Purchase' on day 2 is \"x\", not a number"),
        ({"series": [[1, None]]}, "on day 2 is null, not a number"),
        ({"xValues": []}, "Amplitude answered without data.series"),
    ],
)
def test_unusable_totals_are_data_errors(sim: AmplitudeSimulator, data: Any, words: str) -> None:
    sim.add_fault(SEG, Fault.status(200, {"data": data}))
    error = fails(sim.url, {"event": "Purchase"})
    assert isinstance(error, SourceDataError)
    assert words in str(error)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            b'{"data": {"series": [[1]], "seriesCollapsed": [[{"setId": "", "value": NaN}]]}}',
            "uniques of 'Purchase' over 2026-10-01..2026-11-15 is NaN, not a finite number",
        ),
        (b'{"data": {"series": [[1]]}}', "without data.seriesCollapsed[0][0].value"),
        (b'{"data": {"series": [[1]], "seriesCollapsed": [[]]}}', "seriesCollapsed[0][0].value"),
    ],
)
def test_unusable_uniques_are_data_errors(sim: AmplitudeSimulator, body: bytes, words: str) -> None:
    sim.add_fault(SEG, Fault.status(200, body, {"Content-Type": "application/json"}))
    error = fails(sim.url, {"event": "Purchase", "metric": "uniques"})
    assert isinstance(error, SourceDataError)
    assert words in str(error)


def test_a_rejected_query_carries_amplitudes_words(sim: AmplitudeSimulator) -> None:
    sim.add_fault(
        SEG, Fault.status(400, b"Unknown user property gp:plan\n", {"Content-Type": "text/plain"})
    )
    error = fails(sim.url, {"event": "Purchase", "filters": [PRO]})
    assert isinstance(error, QueryError)
    assert str(error) == (
        "HTTP 400 from GET /api/2/events/segmentation: Unknown user property gp:plan"
    )
    assert len(segs(sim)) == 1  # a query error is not retried


def test_json_error_bodies_are_read_too(sim: AmplitudeSimulator) -> None:
    sim.add_fault(SEG, Fault.status(400, {"error": {"message": "Invalid event type"}}))
    error = fails(sim.url, {"event": "Purchase"})
    assert isinstance(error, QueryError)
    assert str(error).endswith(": Invalid event type")


@pytest.mark.parametrize(("event", "path"), [("Purchase", LIST), ("_active", SEG)])
def test_bad_credentials_never_show_the_keys(
    sim: AmplitudeSimulator, event: str, path: str
) -> None:
    wrong = "wrong-secret-key-77aa"
    error = fails(sim.url, {"event": event}, secret_key=wrong)
    assert isinstance(error, AuthError)
    assert str(error) == (
        "HTTP 401: credentials rejected for the project's API key and secret key "
        f"(GET {path}): Invalid API key or secret key"
    )
    assert wrong not in str(error)
    assert DEMO_API_KEY not in str(error)
    assert len(sim.requests) == 1  # not retried


def test_429_waits_retry_after_when_sent(sim: AmplitudeSimulator) -> None:
    sim.add_fault(SEG, Fault.status(429, b"Too many concurrent requests", {"Retry-After": "4"}))
    sleeps = Sleeps()
    reading = measure(sim.url, {"event": "Purchase"}, sleeps)
    assert sleeps.waits == [4.0]
    assert reading.calls == 3  # the events list, the refused query, the query again


def test_five_minute_cost_limit_is_retried_then_transient() -> None:
    with AmplitudeSimulator(today=lambda: TODAY, cost_per_5_minutes=60) as sim:
        measure(sim.url, {"event": "Purchase"})  # costs 46 of 60
        sleeps = Sleeps()
        with pytest.raises(TransientError, match="per 5 minutes") as info:
            measure(sim.url, {"event": "Signed Up"}, sleeps)
        assert len(segs(sim)) == 1 + 4  # the policy's attempts
    assert "HTTP 429 from GET /api/2/events/segmentation: Exceeded the query cost limit" in str(
        info.value
    )
    assert len(sleeps.waits) == 3
    assert all(w > 0 for w in sleeps.waits)  # no Retry-After: exponential backoff


def test_hourly_cost_limit_is_quota_and_not_retried() -> None:
    with AmplitudeSimulator(today=lambda: TODAY, cost_per_hour=60) as sim:
        measure(sim.url, {"event": "Purchase"})
        error = fails(sim.url, {"event": "Signed Up"})
        assert len(segs(sim)) == 2
    assert isinstance(error, QuotaError)
    assert "hourly query cost limit is spent" in str(error)
    assert "limit of 60 per hour (this query costs 46)" in str(error)


def test_5xx_storm_and_timeout_are_transient(sim: AmplitudeSimulator) -> None:
    sim.add_fault(SEG, Fault.status(502, b"Bad Gateway"), times=10)
    error = fails(sim.url, {"event": "Purchase"})
    assert isinstance(error, TransientError)
    assert str(error) == "HTTP 502 from GET /api/2/events/segmentation: Bad Gateway"
    assert len(segs(sim)) == 4
    sim.clear_faults()
    sim.add_fault(SEG, Fault.hang(5))
    error = fails(sim.url, {"event": "Purchase"}, timeout=0.2, retry={"attempts": 1})
    assert isinstance(error, TransientError)
    assert "timed out after 0.2s" in str(error)


def test_settings_validation_messages() -> None:
    base = {"type": "amplitude", "api_key": "k", "secret_key": "s"}
    assert AmplitudeSettings.model_validate(base).url == "https://amplitude.com"
    eu = AmplitudeSettings.model_validate({**base, "region": "eu"})
    assert (eu.url, eu.max_concurrency) == ("https://analytics.eu.amplitude.com", 5)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"max_concurrency": 8}, "Amplitude runs at most 5 queries at once per project"),
        ({"url": "amplitude.com"}, "url must start with http:// or https://"),
        ({"region": "in"}, "Input should be 'us' or 'eu'"),
        ({"secret_key": ""}, "at least 1 character"),
    ]
    for extra, words in cases:
        with pytest.raises(pydantic.ValidationError, match=words):
            AmplitudeSettings.model_validate({**base, **extra})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "event\n  Field required"),
        ({"event": "A", "metric": "sums"}, "'uniques', 'totals', 'pct_dau' or 'average'"),
        ({"event": "A", "filters": [{**PRO, "subprop_op": "equals"}]}, "subprop_op"),
        ({"event": "A", "filters": [{**PRO, "extra": 1}]}, "Extra inputs are not permitted"),
        ({"event": "A", "filters": [{**PRO, "subprop_value": []}]}, "at least 1 item"),
        ({"event": "A", "date_range": "this_month"}, "use cycle, full_cycle, last_N_days"),
        ({"event": "A", "segments": []}, "Extra inputs are not permitted"),
    ],
)
def test_source_validation_messages(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=words):
        source(**fields)


def test_describe_reads_like_the_query() -> None:
    rendered = CONNECTOR.render(source(event="Purchase", metric="uniques", filters=[PRO]), CTX)  # type: ignore[misc]
    assert CONNECTOR.describe(rendered) == (
        'uniques of "Purchase" where gp:plan is ["pro"] 2026-10-01..2026-11-15'
    )


# -- the simulator answers as the documented API does ---------------------------


def test_simulator_rejects_what_amplitude_rejects(sim: AmplitudeSimulator) -> None:
    ok = {"e": '{"event_type":"Purchase"}', "start": "20261001", "end": "20261002"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({k: v for k, v in ok.items() if k != "e"}, "e must be a JSON event object"),
        ({**ok, "e": '{"event":"x"}'}, "non-empty event_type"),
        ({**ok, "start": "2026-10-01"}, "start is required, formatted YYYYMMDD"),
        ({**ok, "end": "20260930"}, "end 20260930 is before start 20261001"),
        ({**ok, "m": "frequency"}, "m must be one of"),
        ({**ok, "m": "histogram"}, "m=histogram is not simulated"),
        ({**ok, "i": "7"}, "i=7 is not simulated"),
        ({**ok, "g": "country"}, "g is not simulated"),
        ({**ok, "e": '{"event_type":"A","filters":[{"subprop_op":"is"}]}'}, "each filter needs"),
    ]
    auth = (DEMO_API_KEY, DEMO_SECRET_KEY)
    for params, words in cases:
        response = httpx.get(sim.url + SEG, params=params, auth=auth, timeout=5)
        assert (response.status_code, response.headers["content-type"]) == (
            400,
            "text/plain; charset=utf-8",
        ), params
        assert words in response.text
    assert httpx.get(sim.url + SEG, params=ok, timeout=5).status_code == 401
    answer = httpx.get(sim.url + SEG, params={**ok, "m": "totals"}, auth=auth, timeout=5).json()[
        "data"
    ]
    assert answer["xValues"] == ["2026-10-01", "2026-10-02"]
    assert answer["seriesLabels"] == [0]
    assert answer["seriesCollapsed"][0][0]["setId"] == ""
    assert answer["seriesCollapsed"][0][0]["value"] == sum(answer["series"][0])  # totals
    assert all(isinstance(v, int) for v in answer["series"][0])
    default = httpx.get(sim.url + SEG, params=ok, auth=auth, timeout=5).json()["data"]
    assert default["seriesCollapsed"][0][0]["value"] < sum(default["series"][0])  # m=uniques


def test_simulator_cost_windows() -> None:
    ticks = iter([0.0, 100.0, 400.0, 4000.0])
    with AmplitudeSimulator(
        today=lambda: TODAY, cost_per_5_minutes=3, clock=lambda: next(ticks)
    ) as sim:
        params = {"e": '{"event_type":"Purchase"}', "start": "20261001", "end": "20261002"}
        auth = (DEMO_API_KEY, DEMO_SECRET_KEY)
        statuses = [
            httpx.get(sim.url + SEG, params=params, auth=auth, timeout=5).status_code
            for _ in range(4)
        ]
    assert statuses == [200, 429, 200, 200]  # 2 + 2 > 3 within 5 minutes; later the window moved


# -- a whole sync into a real store --------------------------------------------


def sync_config(
    tmp_path: Path, sim: AmplitudeSimulator, secret: str = DEMO_SECRET_KEY
) -> loader.Config:
    connections = f"""
connections:
  amplitude:
    type: amplitude
    url: {sim.url}
    api_key: {DEMO_API_KEY}
    secret_key: ${{AMP_SECRET}}
"""
    sources = {
        "purchases": "event: Purchase",
        "actives": "event: _active\n          metric: uniques",
        "pro-share": "event: Purchase\n          metric: pct_dau\n          filters:\n"
        "            - {subprop_type: user, subprop_key: gp:plan, subprop_op: is, subprop_value: [pro]}",
    }
    krs = "".join(
        f"      - id: {kr_id}\n        title: {kr_id}\n        owner: o@example.com\n"
        f"        start: 0\n        target: 100000\n"
        f"        source:\n          connection: amplitude\n          {text}\n"
        for kr_id, text in sources.items()
    )
    okrs = (
        f"cycle: 2026-Q4\nobjectives:\n  - id: growth\n    title: Growth\n    key_results:\n{krs}"
    )
    directory = write(tmp_path / "m", {"connections.yaml": connections, "okrs.yaml": okrs})
    return loader.load(directory, Registry.default(), environ={"AMP_SECRET": secret})


def test_sync_stores_values_and_keeps_the_last_good_value(
    tmp_path: Path, sim: AmplitudeSimulator
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        config = sync_config(tmp_path, sim)
        result = sync_now(config, store, now=NOW, runtime=FAST)
        assert result.failed == []
        states = store.states()
        assert states["actives"].value == expected("uniques", "_active")
        share = where_share(json.dumps(PRO, sort_keys=True))
        assert states["pro-share"].value == expected("pct_dau", "Purchase", share)
        assert states["pro-share"].query == (
            'pct_dau of "Purchase" where gp:plan is ["pro"] 2026-10-01..2026-11-15'
        )
        assert result.summary["connections"]["amplitude"]["calls"] == 1 + 3  # list + queries

        sim.add_fault(SEG, Fault.status(503, b"Service Unavailable"), times=100)
        later = NOW + timedelta(hours=2)
        records = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
        assert {r.status for r in records.values()} == {"error"}
        assert records["purchases"].error_kind == "transient"
        after = store.state("purchases")
        assert after is not None
        assert (after.value, after.measured_at) == (
            states["purchases"].value,
            states["purchases"].measured_at,
        )
        assert after.last_status == "error"
        assert after.last_error == (
            "connection 'amplitude': HTTP 503 from GET /api/2/events/segmentation: Service Unavailable"
        )


def test_sync_with_a_wrong_secret_never_stores_it(tmp_path: Path, sim: AmplitudeSimulator) -> None:
    wrong = "not-the-secret-key-3c3c"
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        records = sync_now(sync_config(tmp_path, sim, wrong), store, now=NOW, runtime=FAST).records
        assert {(r.status, r.error_kind) for r in records} == {("error", "auth")}
        for record in records:
            stored = (record.error or "") + (record.raw or "")
            assert wrong not in stored
            assert MASK not in stored  # not redacted away afterwards: it was never there
        states = json.dumps([vars(s) for s in store.states().values()], default=str)
        assert wrong not in states
        assert MASK not in states
