"""What a vendor says of its limits, as okrsync reads it; quota settings; the best interval T*.

The header and body forms are the vendors' documented ones (PROTOCOLS.md,
PROTOCOLS-ANALYTICS.md, Atlassian's rate-limiting page); the Salesforce and
GA4 cases run the real connections against their simulators.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.ga4.connector import CONNECTOR as GA4
from connectors.ga4.connector import Ga4Settings, Ga4Source
from connectors.salesforce.connector import CONNECTOR as SALESFORCE
from connectors.salesforce.settings import SalesforceSettings, SalesforceSource
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.ga4 import DEMO_PROPERTY, Ga4Simulator
from okrsync.demo.simulators.salesforce import (
    DEMO_PASSWORD,
    DEMO_SECURITY_TOKEN,
    DEMO_USERNAME,
    SalesforceSimulator,
)
from okrsync.domain.cycle import Cycle
from okrsync.sdk.connector import RenderContext
from okrsync.sdk.quota import (
    DAY,
    HOUR,
    LiveQuota,
    Observation,
    QuotaSettings,
    Window,
    api_usage,
    ga4_property_quota,
    rate_limit_headers,
)
from okrsync.store.database import Store
from okrsync.sync.budget import best_interval
from okrsync.testing.harness import Harness
from tests.support import FAST, sync_now, write

T = 1_796_000_000.0  # an instant in 2026, as epoch seconds
NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
CTX = RenderContext(Cycle.model_validate("2026-Q4"), NOW)


def test_jira_cloud_headers_with_an_iso_reset() -> None:
    said = {
        "X-RateLimit-Limit": "350",
        "X-RateLimit-Remaining": "12",
        "X-RateLimit-Reset": "2026-11-15T12:05Z",
        "RateLimit-Reason": "jira-burst-based",
    }
    [o] = rate_limit_headers(said, T)
    assert (o.limit, o.remaining, o.unit) == (350, 12, "requests")
    assert o.reset_at == datetime(2026, 11, 15, 12, 5, tzinfo=UTC).timestamp()
    assert "X-RateLimit-Remaining: 12" in o.source


def test_jira_data_center_token_bucket_headers() -> None:
    said = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "40"}
    said["X-RateLimit-Interval-Seconds"] = "60"
    [o] = rate_limit_headers(said, T)
    assert (o.seconds, o.reset_at) == (60.0, None)
    assert o.available(T) == 40
    assert o.available(T + 30) == 90  # half a minute refills half the bucket
    assert o.available(T + 600) == 100  # never more than the bucket


def test_ietf_headers_a_reset_in_seconds_and_a_policy() -> None:
    said = {"RateLimit-Limit": "240", "RateLimit-Remaining": "0", "RateLimit-Reset": "20"}
    said["RateLimit-Policy"] = "240;w=60"
    [o] = rate_limit_headers(said, T)
    assert (o.seconds, o.reset_at) == (60.0, T + 20)
    assert o.available(T + 19) == 0
    assert o.available(T + 20) == 240  # a fixed window: all of it after its reset


@pytest.mark.parametrize(
    "said",
    [
        {},
        {"X-RateLimit-Limit": "100"},
        {"X-RateLimit-Limit": "many", "X-RateLimit-Remaining": "3"},
        {"X-RateLimit-Limit": "0", "X-RateLimit-Remaining": "0"},
        {"X-RateLimit-Limit": "nan", "X-RateLimit-Remaining": "1"},
    ],
)
def test_headers_that_say_nothing_usable_are_no_observation(said: dict[str, str]) -> None:
    assert rate_limit_headers(said, T) == []


def test_a_429_retry_after_blocks_until_then() -> None:
    live = LiveQuota()
    live.headers({"Retry-After": "120"}, 429, now=T)
    assert live.blocked(T + 119) == (T + 120, "HTTP 429 with Retry-After: 120")
    assert live.blocked(T + 121) is None
    live.headers({"Retry-After": "5"}, 200, now=T)  # only a 429's wait is a block
    assert live.blocked(T + 119) is not None


def test_what_was_sent_after_an_observation_counts_against_it() -> None:
    live = LiveQuota()
    live.observe(Observation(DAY, 1000, 50, at=T))
    live.sent({"requests": 20.0})
    assert [o.remaining for o in live.observations()] == [30]
    live.observe(Observation(DAY, 1000, 45, at=T + 1))  # the vendor's word replaces ours
    assert [o.remaining for o in live.observations()] == [45]


def test_salesforce_api_usage_is_the_orgs_rolling_day() -> None:
    o = api_usage(14_990, 15_000, T)
    assert o is not None
    assert (o.seconds, o.limit, o.remaining) == (DAY, 15_000, 10)
    assert o.margin == 300  # 2 % of the org's allowance is never spent
    assert api_usage(1, 0, T) is None


def test_ga4_property_quota_keeps_the_tighter_hourly_bucket() -> None:
    quota = {
        "tokensPerDay": {"consumed": 12, "remaining": 199_000},
        "tokensPerHour": {"consumed": 12, "remaining": 39_000},
        "tokensPerProjectPerHour": {"consumed": 12, "remaining": 13_000},
        "concurrentRequests": {"remaining": 10},
    }
    limits = {"tokensPerDay": 200_000, "tokensPerHour": 40_000, "tokensPerProjectPerHour": 14_000}
    seen, consumed = ga4_property_quota(quota, T, limits)
    assert consumed == 12
    by_window = {o.seconds: (o.limit, o.remaining, o.unit) for o in seen}
    assert by_window == {DAY: (200_000, 199_000, "tokens"), HOUR: (14_000, 13_000, "tokens")}
    big, _ = ga4_property_quota({"tokensPerDay": {"remaining": 1_900_000}}, T, limits)
    assert big[0].limit == 1_900_000  # more left than the standard limit: a 360 property
    assert ga4_property_quota("nope", T, limits) == ([], 0.0)


def test_quota_settings_replace_same_length_windows_and_share_all() -> None:
    defaults = (Window(60, HOUR, "requests", "Mixpanel"), Window(200_000, DAY, "tokens", "GA4"))
    assert QuotaSettings().windows(defaults) == defaults
    mine = QuotaSettings(per_hour=20, per_minute=5, share=0.5).windows(defaults)
    assert [(w.limit, w.seconds, w.unit) for w in mine] == [
        (2.5, 60, "requests"),
        (10, HOUR, "requests"),
        (100_000, DAY, "tokens"),  # per_day would be in tokens: the default's unit
    ]
    assert mine[1].source == "quota.per_hour, share 0.5"
    with pytest.raises(ValueError, match="share"):
        QuotaSettings(share=1.5)
    with pytest.raises(ValueError, match="extra"):
        QuotaSettings.model_validate({"per_week": 3})


def brute_force_mean_age(demand: list[tuple[float, float]], capacity: float) -> float:
    """The least Σ Tᵢ (twice the mean age) over a grid of intervals Tᵢ ≥ rᵢ with Σ cᵢ/Tᵢ ≤ C."""
    grid = [120.0 * k for k in range(1, 61)]  # two-minute steps up to two hours
    best = math.inf
    for intervals in itertools.product(grid, repeat=len(demand)):
        if any(t < r for t, (_, r) in zip(intervals, demand, strict=True)):
            continue
        if sum(c / t for t, (c, _) in zip(intervals, demand, strict=True)) <= capacity + 1e-12:
            best = min(best, sum(intervals))
    return best


@pytest.mark.parametrize(
    ("demand", "capacity"),
    [
        ([(1, 300), (1, 300), (1, 300)], 1 / 600),  # all stretched alike
        ([(1, 300), (1, 3600), (1, 900)], 1 / 400),  # the long refresh is left alone
        ([(1, 60), (2, 600)], 1 / 300),  # a dearer query
    ],
)
def test_best_interval_is_the_least_mean_age_under_the_budget(
    demand: list[tuple[float, float]], capacity: float
) -> None:
    t_star = best_interval(demand, capacity)
    intervals = [max(r, t_star) for _, r in demand]
    assert sum(c / t for (c, _), t in zip(demand, intervals, strict=True)) == pytest.approx(
        capacity
    )
    # No schedule on the grid beats it, and the grid's best is within a step of it per query.
    grid_best = brute_force_mean_age(demand, capacity)
    assert sum(intervals) <= grid_best + 1e-6
    assert grid_best <= sum(intervals) + 120 * len(demand)


def test_best_interval_is_zero_when_everything_fits() -> None:
    assert best_interval([(1, 3600), (1, 3600)], 1 / 1000) == 0.0
    assert best_interval([], 1.0) == 0.0


def test_the_salesforce_connection_reads_the_orgs_allowance_as_it_answers() -> None:
    with SalesforceSimulator(today=lambda: NOW.date()) as sim:
        sim.api_used = 14_000
        settings = SalesforceSettings.model_validate(
            {"type": "salesforce", "domain": sim.domain, "ca_bundle": str(sim.ca_file),
             "username": DEMO_USERNAME, "password": DEMO_PASSWORD,
             "security_token": DEMO_SECURITY_TOKEN}
        )  # fmt: skip
        source = SalesforceSource.model_validate(
            {"connection": "sf", "soql": "SELECT COUNT() FROM Account", "value": "totalSize"}
        )

        async def run(connection: object) -> list[Observation]:
            await connection.measure(source)  # type: ignore[attr-defined]
            return connection.live.observations()  # type: ignore[attr-defined,no-any-return]

        [seen] = Harness(SALESFORCE, CTX, "sf").use(settings, run)
    assert (seen.seconds, seen.limit, seen.remaining) == (DAY, 15_000, 999)
    assert seen.source == "Sforce-Limit-Info: api-usage=14001/15000"


def test_the_ga4_connection_reads_property_quota_from_each_report() -> None:
    with Ga4Simulator(today=lambda: NOW.date()) as sim:
        settings = Ga4Settings.model_validate(
            {"type": "ga4", "url": sim.url, "credentials": sim.service_account_json(),
             "property": DEMO_PROPERTY}
        )  # fmt: skip
        source = GA4.render(
            Ga4Source.model_validate({"connection": "ga", "metric": "activeUsers"}), CTX
        )

        async def run(connection: object) -> list[Observation]:
            await connection.measure(source)  # type: ignore[attr-defined]
            return connection.live.observations()  # type: ignore[attr-defined,no-any-return]

        seen = Harness(GA4, CTX, "ga").use(settings, run)
    units = {(o.seconds, o.unit) for o in seen}
    assert units == {(DAY, "tokens"), (HOUR, "tokens")}
    assert all(0 < o.remaining < o.limit for o in seen)


def test_a_salesforce_org_near_its_allowance_is_throttled_not_spent(tmp_path: Path) -> None:
    """Sforce-Limit-Info says 14,901 of 15,000: the next sync sends nothing to Salesforce."""
    with SalesforceSimulator(today=lambda: NOW.date()) as sim:
        sim.api_used = 14_900
        conn = (
            "connections:\n  sf:\n    type: salesforce\n"
            f"    domain: {sim.domain}\n    ca_bundle: {sim.ca_file}\n"
            f"    username: {DEMO_USERNAME}\n    password: {DEMO_PASSWORD}\n"
            f"    security_token: {DEMO_SECURITY_TOKEN}\n"
        )
        krs = "".join(
            f"      - id: sf-{i}\n        title: Deals {i}\n        owner: o@example.com\n"
            f"        start: 0\n        target: 100\n        refresh: 1m\n        source:\n"
            f"          connection: sf\n"
            f"          soql: SELECT COUNT() FROM Opportunity WHERE Amount > {i * 1000}\n"
            f"          value: totalSize\n"
            for i in range(3)
        )
        okrs = (
            "version: 1\ncycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: O\n"
            f"    owner: o@example.com\n    key_results:\n{krs}"
        )
        directory = write(tmp_path / "m", {"connections.yaml": conn, "okrs.yaml": okrs})
        config = loader.load(directory, Registry.default(), environ={})
        with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            first = sync_now(config, store, now=datetime.now(UTC), runtime=FAST)
            assert [r.status for r in first.records] == ["ok"] * 3  # one batch: 3 calls
            assert sim.api_used == 14_903
            sent = len(sim.requests)
            second = sync_now(config, store, now=datetime.now(UTC) + timedelta(minutes=2))
        assert len(sim.requests) == sent  # not even a login
        assert second.records == []
        why = second.plan.throttled["sf-0"].reason
        assert "Sforce-Limit-Info: api-usage=14903/15000" in why


def test_a_figure_with_no_window_and_no_reset_holds_for_a_minute_only() -> None:
    [o] = rate_limit_headers({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0"}, T)
    assert o.available(T + 59) == 0
    assert o.available(T + 61) == 100  # never a pool blocked for good by one old answer


def test_a_share_never_makes_a_window_smaller_than_one() -> None:
    [w] = QuotaSettings(per_hour=1, share=0.5).windows(())
    assert w.limit == 1
