"""One sync end to end: real simulator over HTTP, real SQLite store, no mocks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okrsync.config import loader
from okrsync.config.loader import Config
from okrsync.config.registry import Registry
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from okrsync.sync import execute as execute_stage
from okrsync.sync import plan as plan_stage
from okrsync.sync import run
from tests.support import (
    FAST,
    NOW,
    TODAY,
    TOKEN,
    connections_yaml,
    kr_yaml,
    load,
    mapping,
    objective_yaml,
    sync_now,
    write,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as st:
        yield st


def config_for(tmp_path: Path, sim: StatsSimulator, krs: list[str], **conn: object) -> Config:
    files = {
        "connections.yaml": connections_yaml(sim.url, **conn),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    return load(write(tmp_path / "mappings", files))


def test_sync_stores_every_value_with_provenance(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    config = config_for(
        tmp_path,
        sim,
        [
            kr_yaml("tickets", "support_tickets_month"),
            kr_yaml("steps", "checkout_steps", start=9, target=6),
        ],
    )
    result = sync_now(config, store, now=NOW, runtime=FAST)
    assert result.exit_code == 0
    assert [r.status for r in result.records] == ["ok", "ok"]
    state = store.state("tickets")
    assert state is not None
    assert state.value is not None
    assert 30 <= state.value <= 120
    assert (
        state.query
        == "GET /api/v1/metrics/support_tickets_month?from=2026-10-01&to=2026-12-31 → $.data.value"
    )
    [m] = store.history("tickets")
    assert '"support_tickets_month"' in (m.raw or "")
    assert m.connection == "stats"
    assert m.calls == 1
    assert store.last_run() is not None
    # the token went out as the connection said, and only to the simulator
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in sim.requests)


def test_identical_queries_are_fetched_once(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    krs = [kr_yaml(f"same-{i}", "annual_revenue", start=12e6, target=24e6) for i in range(3)]
    krs.append(kr_yaml("other", "website_pageviews", start=3e5, target=5e5))
    config = config_for(tmp_path, sim, krs)
    result = sync_now(config, store, now=NOW, runtime=FAST)
    paths = [r.path for r in sim.requests]
    assert len(paths) == 2, paths
    assert result.summary["queries"] == 2
    assert result.summary["measured"] == 4
    values = {store.state(f"same-{i}").value for i in range(3)}  # type: ignore[union-attr]
    assert len(values) == 1


def test_one_failing_source_keeps_its_last_good_value_and_spares_the_rest(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    config = config_for(
        tmp_path,
        sim,
        [
            kr_yaml("good", "support_tickets_month"),
            kr_yaml("flaky", "checkout_steps", start=9, target=6),
        ],
    )
    sync_now(config, store, now=NOW, runtime=FAST)
    before = store.state("flaky")
    assert before is not None
    assert before.value is not None

    sim.add_fault("/api/v1/metrics/checkout_steps", Fault.malformed(), times=10)
    result = sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST)
    assert result.exit_code == 1
    by_id = {r.kr_id: r for r in result.records}
    assert by_id["good"].status == "ok"
    assert by_id["flaky"].status == "error"
    assert by_id["flaky"].error_kind == "source_data"
    assert by_id["flaky"].error is not None
    assert by_id["flaky"].error.startswith("connection 'stats': ")
    after = store.state("flaky")
    assert after is not None
    assert after.value == before.value
    assert after.measured_at == before.measured_at
    assert after.last_status == "error"
    assert store.last_run().status == "partial"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path_change", "kind", "message"),
    [
        ("support_tickets_month", "query", "HTTP 404"),  # unknown metric
        ("$.data.value", "source_data", "matched nothing"),  # wrong JSONPath
    ],
)
def test_source_errors_are_classified(
    tmp_path: Path, sim: StatsSimulator, store: Store, path_change: str, kind: str, message: str
) -> None:
    kr = kr_yaml("k", "support_tickets_month")
    kr = kr.replace(path_change, "no_such_metric" if kind == "query" else "$.data.missing")
    result = sync_now(config_for(tmp_path, sim, [kr]), store, now=NOW, runtime=FAST)
    [record] = result.records
    assert (record.status, record.error_kind) == ("error", kind)
    assert message in (record.error or "")


def test_a_boolean_for_a_numeric_key_result_is_an_error(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    kr = (
        kr_yaml("k", "x")
        .replace(
            "/api/v1/metrics/x?from={cycle.start}&to={cycle.end}", "/api/v1/milestones/launch-2.0"
        )
        .replace("$.data.value", "$.done")
    )
    [record] = sync_now(config_for(tmp_path, sim, [kr]), store, now=NOW, runtime=FAST).records
    assert record.status == "error"
    assert "got a boolean" in (record.error or "")


def test_timeouts_and_5xx_are_retried_then_isolated(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    config = config_for(
        tmp_path,
        sim,
        [
            kr_yaml("slow", "support_tickets_month"),
            kr_yaml("fine", "checkout_steps", start=9, target=6),
        ],
        timeout=0.3,
    )
    sim.add_fault("/api/v1/metrics/support_tickets_month", Fault.hang(2.0), times=1)
    sim.add_fault("/api/v1/metrics/support_tickets_month", Fault.status(503), times=10)
    result = sync_now(config, store, now=NOW, runtime=FAST)
    by_id = {r.kr_id: r for r in result.records}
    assert by_id["fine"].status == "ok"
    assert by_id["slow"].status == "error"
    assert by_id["slow"].error_kind == "transient"
    attempts = [r for r in sim.requests if "support_tickets_month" in r.path]
    assert len(attempts) == 4  # RetryConfig().attempts
    assert by_id["slow"].calls == 4  # failed calls are spent quota too
    assert by_id["fine"].calls == 1
    assert result.summary["calls"] == len(sim.requests) == 5


def test_calls_count_what_was_sent_for_failures_too(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    krs = [kr_yaml("denied", "support_tickets_month"), kr_yaml("gone", "no_such_metric")]
    config = config_for(tmp_path, sim, krs)
    sim.add_fault("/api/v1/metrics/support_tickets_month", Fault.status(401), times=1)
    result = sync_now(config, store, now=NOW, runtime=FAST)
    by_id = {r.kr_id: r for r in result.records}
    assert (by_id["denied"].error_kind, by_id["denied"].calls) == ("auth", 1)  # never retried
    assert (by_id["gone"].status, by_id["gone"].calls) == ("error", 1)  # a 404
    assert result.summary["calls"] == len(sim.requests) == 2

    unset = loader.load(config.directory, Registry.default(), environ={})  # no token set
    assert "stats" in unset.unavailable
    nothing = sync_now(unset, store, now=NOW, runtime=FAST, force=True)
    assert {r.calls for r in nothing.records} == {0}  # nothing was sent
    assert nothing.summary["calls"] == 0
    assert len(sim.requests) == 2


def test_suspicious_values_are_held_not_stored_as_progress(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    krs = [
        kr_yaml("capped", "support_tickets_month", max=50),  # the simulator says ~70
        kr_yaml("jumpy", "annual_revenue", start=12e6, target=24e6, max_change="1%"),
    ]
    config = config_for(tmp_path, sim, krs)
    first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
    assert first["capped"].status == "held"
    assert "above max 50" in (first["capped"].error or "")
    assert first["jumpy"].status == "ok"  # nothing to compare with yet
    capped = store.state("capped")
    assert capped is not None
    assert capped.value is None
    assert capped.held_value == first["capped"].value

    # a month later the revenue moved more than 1 %: held, the old value stays
    later = NOW + timedelta(days=30)
    sim.today = lambda: TODAY + timedelta(days=30)
    second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
    assert second["jumpy"].status == "held"
    assert "is more than max_change 1%" in (second["jumpy"].error or "")
    assert store.state("jumpy").value == first["jumpy"].value  # type: ignore[union-attr]
    assert second["jumpy"].value != first["jumpy"].value


def test_key_results_are_measured_only_when_due(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    krs = [
        kr_yaml("hourly", "support_tickets_month", refresh="1h"),
        kr_yaml("daily", "checkout_steps", start=9, target=6, refresh="1d"),
    ]
    config = config_for(tmp_path, sim, krs)
    sync_now(config, store, now=NOW, runtime=FAST)
    second = sync_now(config, store, now=NOW + timedelta(minutes=50), runtime=FAST)
    assert second.records == []
    assert set(second.plan.skipped) == {"hourly", "daily"}
    third = sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST)
    assert [r.kr_id for r in third.records] == ["hourly"]
    forced = sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST, force=True)
    assert {r.kr_id for r in forced.records} == {"hourly", "daily"}
    assert len(store.runs()) == 4  # every sync is a run, even one with nothing due


def test_per_connection_concurrency_limit_holds(tmp_path: Path, sim: StatsSimulator) -> None:
    metrics = [
        "annual_revenue",
        "new_product_sales",
        "support_tickets_month",
        "checkout_steps",
        "website_pageviews",
        "mau_key_accounts",
    ]
    krs = [kr_yaml(f"k{i}", m, start=0, target=1) for i, m in enumerate(metrics)]
    config = config_for(tmp_path, sim, krs, max_concurrency=2)
    for m in metrics:
        sim.add_fault(f"/api/v1/metrics/{m}", Fault.delay(0.2))
    plan = plan_stage.make_plan(config, {}, NOW)
    outcomes = asyncio.run(execute_stage.execute(plan, config, FAST)).outcomes
    assert all(o.reading is not None for o in outcomes.values())
    starts = sorted(r.time for r in sim.requests)
    # with two in flight, the third request can only start once one of the first two is done
    assert starts[2] - starts[0] >= 0.18
    assert starts[4] - starts[0] >= 0.36


def test_plan_writes_nothing(tmp_path: Path, sim: StatsSimulator, store: Store) -> None:
    config = config_for(tmp_path, sim, [kr_yaml("k", "support_tickets_month")])
    plan, _, records = asyncio.run(run.measure(config, store.states(), NOW, FAST))
    assert [r.status for r in records] == ["ok"]
    assert plan.kr_count == 1
    assert store.runs() == []
    assert store.states() == {}


def test_per_connection_rate_limit_spaces_requests(tmp_path: Path, sim: StatsSimulator) -> None:
    metrics = ["annual_revenue", "new_product_sales", "support_tickets_month", "checkout_steps"]
    krs = [kr_yaml(f"k{i}", m, start=0, target=1) for i, m in enumerate(metrics)]
    config = config_for(tmp_path, sim, krs, rate_limit=2)
    asyncio.run(execute_stage.execute(plan_stage.make_plan(config, {}, NOW), config, FAST))
    starts = sorted(r.time for r in sim.requests)
    assert len(starts) == 4
    assert starts[3] - starts[0] >= 0.8  # 2 per second: the 4th waits about a second


def test_plan_outcomes_and_results_have_short_reprs() -> None:
    """asyncio.run formats its task's result on exit: a full repr of a big plan cost 9 MB.

    (Runner.run asks signal.getsignal whether its SIGINT handler is still set;
    that builds a ValueError whose text is the repr of the handler, whose
    arguments hold the task, whose repr holds the full repr of its result.)
    """
    from okrsync.domain.records import MeasurementRecord
    from okrsync.sdk.connector import SourceBase
    from okrsync.sync.execute import Executed, Outcome
    from okrsync.sync.plan import Plan, PlannedQuery

    source = SourceBase(connection="c")
    queries = {str(i): PlannedQuery("c", source, f"query {i}") for i in range(1000)}
    plan = Plan(now=datetime(2026, 11, 15, tzinfo=UTC), queries=queries, skipped={})
    outcomes = {str(i): Outcome(None, None, 0.0) for i in range(1000)}
    assert repr(plan) == "Plan(now=2026-11-15T00:00:00+00:00, 1000 queries)"
    assert repr(Executed(outcomes, {})) == "Executed(1000 outcomes, 0 initiatives)"
    records = [
        MeasurementRecord(str(i), NOW, "ok", 1.0)
        if i % 10
        else MeasurementRecord(str(i), NOW, "error")
        for i in range(1000)
    ]
    result = run.SyncResult(7, plan, records, {"krs": 1000})
    assert repr(result) == "SyncResult(run 7, 1000 records, 100 failed, 0 published, 0 pushed)"


def test_sync_runs_inside_a_running_event_loop(
    tmp_path: Path, sim: StatsSimulator, store: Store
) -> None:
    """The dashboard server awaits a sync on its own loop; the loop keeps serving meanwhile."""
    config = config_for(tmp_path, sim, [kr_yaml("tickets", "support_tickets_month")])
    sim.latency = 0.3  # each answer takes this long: the loop must tick while it waits
    ticks: list[float] = []

    async def server_loop() -> run.SyncResult:
        async def ticker() -> None:
            while True:
                ticks.append(asyncio.get_running_loop().time())
                await asyncio.sleep(0.02)

        beat = asyncio.create_task(ticker())
        try:
            return await run.sync(config, store, now=NOW, runtime=FAST)
        finally:
            beat.cancel()

    result = asyncio.run(server_loop())
    assert [r.status for r in result.records] == ["ok"]
    assert len(ticks) >= 5, f"the event loop was blocked during the sync ({len(ticks)} ticks)"
