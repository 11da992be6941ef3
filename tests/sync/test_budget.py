"""Quota-aware scheduling (SPEC §8) over real HTTP: deferring, live limits, a shared budget.

The stats simulator stands in for a vendor; its connection gets a ``quota:``
(any connection may), or the simulator answers with the vendor's own
``X-RateLimit-*`` and ``Retry-After`` headers. Every test counts the
requests the simulator really received.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.demo.simulators.server import Fault, Request, Response
from okrsync.demo.simulators.stats import METRICS, StatsSimulator
from okrsync.publish import current
from okrsync.publish.metrics import render
from okrsync.sdk.quota import Window
from okrsync.store.database import Store
from tests.support import (
    FAST,
    TOKEN,
    connections_yaml,
    kr_yaml,
    load,
    mapping,
    objective_yaml,
    okrsync_env,
    sync_now,
    write,
)

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
NAMES = sorted(METRICS)[:6]


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(TOKEN, today=lambda: NOW.date()) as server:
        yield server


def org(
    directory: Path, url: str, n: int, quota: str | None, prefix: str = "kr", **kr: object
) -> Path:
    """``n`` key results, one distinct metric each, on the ``stats`` connection."""
    extra = {"max_concurrency": 1, **({"quota": quota} if quota else {})}
    krs = [kr_yaml(f"{prefix}-{i}", NAMES[i], **kr) for i in range(n)]
    return write(
        directory,
        {
            "connections.yaml": connections_yaml(url, **extra),
            "okrs.yaml": mapping([objective_yaml("obj", krs)]),
        },
    )


def metric_calls(sim: StatsSimulator) -> int:
    return sum(r.path.startswith("/api/v1/metrics/") for r in sim.requests)


def test_a_sync_defers_what_the_budget_cannot_fit_and_says_why(
    tmp_path: Path, sim: StatsSimulator, store_url: str
) -> None:
    # A daily refresh fits 3 an hour in the long run: only the first sync has too much.
    config = load(org(tmp_path, sim.url, 5, "{per_hour: 3}", refresh="1d"))
    with Store.open(store_url) as store:
        first = sync_now(config, store, now=NOW, runtime=FAST)
        assert metric_calls(sim) == 3  # never a fourth: the budget is 3 an hour
        measured = {r.kr_id for r in first.records}
        assert len(measured) == 3
        assert {r.status for r in first.records} == {"ok"}
        waiting = set(first.plan.throttled)
        assert waiting == {f"kr-{i}" for i in range(5)} - measured
        for kr in waiting:
            why = first.plan.throttled[kr].reason
            assert "3 requests an hour (quota.per_hour)" in why, why
        assert first.exit_code == 0  # throttled is not a failure: nothing went wrong

        states = store.states()
        assert {k for k, s in states.items() if s.throttled_reason} == waiting
        assert all(states[k].value is None for k in waiting)

        later = sync_now(config, store, now=NOW + timedelta(minutes=5), runtime=FAST)
        assert metric_calls(sim) == 3  # the hour's budget is spent: nothing sent at all
        assert later.records == []
        assert set(later.plan.throttled) == waiting

        hour = sync_now(config, store, now=NOW + timedelta(minutes=61), runtime=FAST)
        assert metric_calls(sim) == 5
        assert {r.kr_id for r in hour.records} == waiting
        assert hour.plan.throttled == {}
        assert not any(s.throttled_reason for s in store.states().values())  # measured: cleared


def test_status_explain_plan_and_metrics_show_throttled_with_the_reason(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    directory = org(tmp_path / "m", sim.url, 4, "{per_hour: 2}", refresh="1d")
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    config = load(directory)
    with Store.open(url) as store:
        result = sync_now(config, store, now=datetime.now(UTC), runtime=FAST)
        waiting = sorted(result.plan.throttled)
        assert len(waiting) == 2
        views = current.views(config, store, datetime.now(UTC))
        exposition = render(config, store, datetime.now(UTC)).decode()
    kr = {k.id: k for v in views for k in v.key_results}
    assert kr[waiting[0]].status == "throttled"
    assert "2 requests an hour" in (kr[waiting[0]].reason or "")
    for w in waiting:
        labels = f'key_result="{w}",objective="obj",status="throttled",team=""'
        assert f"okrsync_key_result_status{{{labels}}} 1.0" in exposition

    runner = CliRunner()
    env = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_STORE_URL": url, "OKRSYNC_MAPPINGS": str(directory)}
    status = runner.invoke(app, ["status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    rows = {k["id"]: k for o in json.loads(status.output)["objectives"] for k in o["key_results"]}
    assert rows[waiting[0]]["status"] == "throttled"
    assert "quota: pool stats" in rows[waiting[0]]["reason"]

    explained = runner.invoke(app, ["explain", waiting[0]], env=env)
    assert explained.exit_code == 0, explained.output
    assert "throttled" in explained.output
    assert "2 requests an hour" in explained.output

    sent = metric_calls(sim)
    planned = runner.invoke(app, ["plan"], env={**env, "COLUMNS": "250"})
    assert "throttled" in planned.output, planned.output
    assert "2 requests an hour" in planned.output
    assert metric_calls(sim) == sent  # the plan respects the spent budget: it sends nothing


def test_a_refresh_the_budget_cannot_sustain_is_stretched_evenly(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    # 6 key results every 5 minutes ask 72 requests an hour of a budget of 30.
    config = load(org(tmp_path, sim.url, 6, "{per_hour: 30}", refresh="5m"))
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        per_tick = []
        for tick in range(24):  # two hours of a scheduler every 5 minutes
            before = metric_calls(sim)
            result = sync_now(config, store, now=NOW + timedelta(minutes=5 * tick), runtime=FAST)
            per_tick.append(metric_calls(sim) - before)
        throttles = list(result.plan.throttled.values())
        throttle = throttles[0]
    # T* = 6 / (0.95 * 30 an hour) = 12.6 min: each is measured every 15 minutes (ticks of 5).
    assert throttle.can_refresh is not None
    assert timedelta(minutes=12) < throttle.can_refresh < timedelta(minutes=13)
    assert len(throttles) == 6
    assert all(t.can_refresh == throttle.can_refresh for t in throttles)
    assert any("each can refresh every 13m" in t.reason for t in throttles)
    for start in range(len(per_tick) - 11):  # no rolling hour over the budget
        assert sum(per_tick[start : start + 12]) <= 30
    assert sum(per_tick) >= 6 * 8  # and the budget is used: every key result every 15 min


def test_a_vendor_limit_header_lowers_the_plan_mid_run_and_next_run(
    tmp_path: Path, sim: StatsSimulator, store_url: str
) -> None:
    """No quota configured: the vendor's X-RateLimit-Remaining alone keeps okrsync within it."""
    reset = str(int(time.time()) + 3600)
    said = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": reset}
    sim.add_fault(r"/api/v1/metrics/.*", Fault.status(200, {"data": {"value": 7}}, said))
    config = load(org(tmp_path, sim.url, 5, None))
    with Store.open(store_url) as store:
        first = sync_now(config, store, now=datetime.now(UTC), runtime=FAST)
        # 3 left, 2 kept back (2 % of 100): the second request is the last one allowed.
        assert metric_calls(sim) == 2
        assert len(first.records) == 2
        assert len(first.plan.throttled) == 3
        why = next(iter(first.plan.throttled.values())).reason
        assert "X-RateLimit-Remaining: 3 of X-RateLimit-Limit: 100" in why
        live = store.quota_live()["stats"]
        assert [(o.limit, o.remaining) for o in live] == [(100.0, 2.0)]  # less what was sent

        second = sync_now(config, store, now=datetime.now(UTC), runtime=FAST)
        assert metric_calls(sim) == 2  # the stored figure forbids even the first request
        assert second.records == []
        assert len(second.plan.throttled) == 3


def test_a_retry_after_is_kept_and_the_next_sync_waits(
    tmp_path: Path, sim: StatsSimulator, store_url: str
) -> None:
    sim.add_fault(
        r"/api/v1/metrics/.*", Fault.status(429, {"error": "slow down"}, {"Retry-After": "900"})
    )
    config = load(org(tmp_path, sim.url, 3, None))
    with Store.open(store_url) as store:
        first = sync_now(config, store, now=datetime.now(UTC), runtime=FAST)
        assert metric_calls(sim) == 1  # 900 s is past the retry budget: given up, not retried
        assert [r.status for r in first.records] == ["error"]
        assert len(first.plan.throttled) == 2  # the others were never sent
        assert "asked to wait" in next(iter(first.plan.throttled.values())).reason

        second = sync_now(config, store, now=datetime.now(UTC), runtime=FAST)
        assert metric_calls(sim) == 1
        assert set(second.plan.throttled) == {"kr-1", "kr-2"}  # kr-0 failed: not due again yet
        assert "HTTP 429 with Retry-After: 900" in second.plan.throttled["kr-1"].reason
        assert first.summary["connections"]["stats"]["error_kinds"] == {"transient": 1}


def test_two_processes_on_one_store_share_one_budget(
    tmp_path: Path, sim: StatsSimulator, store_url: str
) -> None:
    """Two deployments (their own mappings) spending one vendor's allowance through one store."""
    quota = "{per_hour: 4, pool: shared-stats}"
    a = org(tmp_path / "a", sim.url, 3, quota, prefix="a")
    b = org(tmp_path / "b", sim.url, 3, quota, prefix="b")
    for directory in (a, b):
        env = okrsync_env(directory, store_url)
        done = subprocess.run(
            [sys.executable, "-m", "okrsync", "sync"], env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert metric_calls(sim) == 4  # 3 + 1, not 3 + 3
    with Store.open(store_url) as store:
        throttled = sorted(k for k, s in store.states().items() if s.throttled_reason)
    assert len(throttled) == 2
    assert all(k.startswith("b-") for k in throttled)


RESERVER = """
import sys, time
from okrsync.sdk.quota import Window
from okrsync.store.database import Store

url, start, mine = sys.argv[1], float(sys.argv[2]), []
window = [Window(50, 3600)]
with Store.open(url) as store:
    while time.time() < start:
        time.sleep(0.005)
    for _ in range(40):
        def decide(spent):
            left = 50 - spent.used[(3600.0, "requests")]
            take = 1.0 if left >= 1 else 0.0
            time.sleep(0.01)  # a reader deciding: without the lock, others read the same room
            mine.append(take)
            return {"requests": take}
        store.reserve_quota("race", window, time.time(), decide)
print(sum(mine))
"""


def test_reservations_racing_from_four_processes_never_overspend(
    tmp_path: Path, store_url: str
) -> None:
    script = tmp_path / "reserve.py"
    script.write_text(RESERVER)
    with Store.open(store_url):
        pass  # created once, before the race
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), store_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    taken = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        taken.append(float(out))
    assert sum(taken) == 50  # 4 x 40 asked, exactly the window's 50 granted
    with Store.open(store_url) as store:
        spent = store.quota_spent("race", [Window(50, 3600)], time.time())
    assert spent.used[(3600.0, "requests")] == 50


def test_a_quota_on_a_connection_whose_secret_is_not_set_fails_only_that_connection(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    """The loader only constructs such settings (its quota: a plain mapping): no crash."""
    directory = org(tmp_path, sim.url, 2, None)
    mixpanel = (
        "  mp:\n    type: mixpanel\n    username: svc\n    secret: ${MP_SECRET_NOT_SET}\n"
        "    project_id: 7\n    quota: {per_hour: 30, share: 0.5}\n"
    )
    (directory / "connections.yaml").write_text(
        (directory / "connections.yaml").read_text() + mixpanel
    )
    config = load(directory)
    assert "mp" in config.unavailable
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        result = sync_now(config, store, now=NOW, runtime=FAST)
    assert [r.status for r in result.records] == ["ok", "ok"]
    assert metric_calls(sim) == 2


class TimedStats(StatsSimulator):
    """The stats API, noting when each metric request arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived: list[float] = []

    def _metric(self, request: Request) -> Response:
        self.arrived.append(time.monotonic())
        return super()._metric(request)


def test_a_window_shorter_than_a_run_is_paced_not_refused(tmp_path: Path) -> None:
    """5 a second: all 6 due queries go in one run, never more than 5 in any second."""
    with TimedStats(TOKEN, today=lambda: NOW.date()) as sim:
        directory = org(tmp_path, sim.url, 6, "{per_second: 5}", refresh="1d")
        (directory / "connections.yaml").write_text(
            (directory / "connections.yaml")
            .read_text()
            .replace("max_concurrency: 1", "max_concurrency: 6")
        )
        with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            result = sync_now(load(directory), store, now=NOW, runtime=FAST)
        arrived = sorted(sim.arrived)
    assert [r.status for r in result.records] == ["ok"] * 6
    assert result.plan.throttled == {}
    assert len(arrived) == 6
    for i, t in enumerate(arrived):
        assert sum(1 for u in arrived[i:] if u - t < 1.0) <= 5
    assert arrived[-1] - arrived[0] >= 1.0  # spread: six at once would have been too many


def test_what_okrsync_plan_spends_is_recorded_for_the_next_sync(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    directory = org(tmp_path / "m", sim.url, 3, "{per_hour: 4}", refresh="1d")
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    with Store.open(url):
        pass  # the store exists: plan records its spend there
    env = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_STORE_URL": url, "OKRSYNC_MAPPINGS": str(directory)}
    planned = CliRunner().invoke(app, ["plan"], env=env)
    assert planned.exit_code == 0, planned.output
    assert metric_calls(sim) == 3
    with Store.open(url) as store:
        result = sync_now(load(directory), store, now=datetime.now(UTC), runtime=FAST)
    assert metric_calls(sim) == 4  # 1 left of the hour's 4, not 3 again
    assert len(result.records) == 1
    assert len(result.plan.throttled) == 2
