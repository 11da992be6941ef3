"""A finished cycle is measured as of its end, once more, and then left alone (#17.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from okrsync.config.loader import Config
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.domain.cycle import Cycle
from okrsync.publish import snapshot
from okrsync.store.database import Store
from okrsync.sync.plan import make_plan
from tests.support import (
    NOW,
    connections_yaml,
    kr_yaml,
    load,
    mapping,
    objective_yaml,
    sync_now,
    write,
)

Q3_LAST_SECOND = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
AS_OF_KR = """- id: asof
  title: Sign-ups up to as-of
  start: 0
  target: 100
  source:
    connection: stats
    path: /api/v1/metrics/signups?until={as_of}
    value: $.data.value
"""


def config_for(tmp_path: Path, url: str, cycle: str, krs: list[str]) -> Config:
    files = {
        "connections.yaml": connections_yaml(url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)], cycle=cycle),
    }
    return load(write(tmp_path / "mappings", files))


def test_cycle_as_of_is_now_during_the_cycle_and_its_last_second_after() -> None:
    q4 = Cycle.model_validate("2026-Q4")
    assert q4.as_of(NOW) == NOW
    q3 = Cycle.model_validate("2026-Q3")
    assert q3.as_of(NOW) == Q3_LAST_SECOND
    assert q3.as_of(Q3_LAST_SECOND - timedelta(hours=1)) == Q3_LAST_SECOND - timedelta(hours=1)


def test_a_finished_cycle_is_queried_as_of_its_end(tmp_path: Path) -> None:
    config = config_for(tmp_path, "http://127.0.0.1:9", "2026-Q3", [AS_OF_KR])
    [query] = make_plan(config, {}, NOW).queries.values()
    assert query.source.path == "/api/v1/metrics/signups?until=2026-09-30T23:59:59Z"
    running = config_for(tmp_path / "q4", "http://127.0.0.1:9", "2026-Q4", [AS_OF_KR])
    [query] = make_plan(running, {}, NOW).queries.values()
    assert query.source.path == "/api/v1/metrics/signups?until=2026-11-15T12:00:00Z"


def test_after_its_final_value_a_finished_cycle_is_not_measured_again(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    config = config_for(tmp_path, sim.url, "2026-Q3", [kr_yaml("tickets", "support_tickets_month")])
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as store:
        first = sync_now(config, store, now=NOW)
        assert [r.status for r in first.records] == ["ok"]
        sent = len(sim.requests)
        later = sync_now(config, store, now=NOW + timedelta(days=2))
        assert later.records == []
        assert later.plan.skipped == {
            "tickets": "cycle 2026-Q3 is over and its final value is measured"
        }
        assert len(sim.requests) == sent
        forced = sync_now(config, store, now=NOW + timedelta(days=2), force=True)
        assert [r.status for r in forced.records] == ["ok"]  # --all still measures it


def test_a_value_measured_during_the_cycle_is_measured_once_more_after_it(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    config = config_for(tmp_path, sim.url, "2026-Q3", [kr_yaml("tickets", "support_tickets_month")])
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as store:
        sync_now(config, store, now=Q3_LAST_SECOND - timedelta(hours=2))
        after = sync_now(config, store, now=NOW)
        assert [r.status for r in after.records] == ["ok"]


def test_status_says_the_cycle_is_over(tmp_path: Path) -> None:
    from rich.console import Console

    from okrsync.cli.console import status_table

    config = config_for(tmp_path, "http://127.0.0.1:9", "2026-Q3", [AS_OF_KR])
    console = Console(width=160, record=True)
    console.print(status_table(snapshot.build(config, {}, NOW), NOW))
    assert "OKRs 2026-Q3 (over) as of 2026-11-15 12:00 UTC" in console.export_text()
