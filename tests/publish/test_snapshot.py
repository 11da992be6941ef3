"""The objective tree a snapshot builds: progress and status rolled up through aligned objectives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from okrsync.config import loader
from okrsync.domain.records import KrState
from okrsync.publish import snapshot
from tests.support import NOW, connections_yaml, kr_yaml, load, mapping, objective_yaml, write

COMPANY = """  - id: company
    title: Grow the company
    owner: ceo@example.com
    level: company
    rollup: children
    key_results: []
"""


def state(kr_id: str, value: float) -> KrState:
    measured = NOW - timedelta(minutes=5)
    return KrState(kr_id, value, measured, measured, "ok", None, None, None, None, 1, "stats", "q")


def company_with_teams(tmp_path: Path) -> loader.Config:
    team = objective_yaml(
        "team",
        [kr_yaml("a", "m1", start=0, target=100), kr_yaml("b", "m2", start=0, target=100)],
        parent="company",
        level="team",
    )
    return load(
        write(
            tmp_path,
            {
                "connections.yaml": connections_yaml("http://127.0.0.1:9"),
                "okrs.yaml": mapping([COMPANY, team]),
            },
        )
    )


def test_a_company_objective_measured_by_its_children_is_not_stale(tmp_path: Path) -> None:
    config = company_with_teams(tmp_path)
    # 2026-Q4 is 49% gone at NOW: 60 and 50 of 100 are on track.
    views = {
        v.id: v for v in snapshot.build(config, {"a": state("a", 60), "b": state("b", 50)}, NOW)
    }
    assert views["team"].status == "on_track"
    assert views["company"].progress == views["team"].progress == 0.55
    assert views["company"].status == "on_track"
    assert [c.id for c in views["company"].children] == ["team"]


def test_children_statuses_decide_done_stale_and_error(tmp_path: Path) -> None:
    config = company_with_teams(tmp_path)
    done = {"a": state("a", 100), "b": state("b", 100)}
    assert {v.id: v.status for v in snapshot.build(config, done, NOW)} == {
        "company": "done",
        "team": "done",
    }
    nothing = {v.id: v.status for v in snapshot.build(config, {}, NOW)}
    assert nothing == {"company": "stale", "team": "stale"}


def test_validate_does_not_warn_that_a_children_rollup_has_no_key_results(tmp_path: Path) -> None:
    config = company_with_teams(tmp_path)
    warnings = [p.message for p in config.warnings]
    assert not [w for w in warnings if "company" in w], warnings


def test_validate_suggests_rollup_children_for_an_empty_objective_with_children(
    tmp_path: Path,
) -> None:
    lonely = COMPANY.replace("    rollup: children\n", "")
    team = objective_yaml("team", [kr_yaml("a", "m1")], parent="company", level="team")
    config = load(
        write(
            tmp_path,
            {
                "connections.yaml": connections_yaml("http://127.0.0.1:9"),
                "okrs.yaml": mapping([lonely, team]),
            },
        )
    )
    warnings = [p.message for p in config.warnings]
    assert (
        "objective 'company' has no key results; to measure it by the objectives aligned to it,"
        " set rollup: children"
    ) in warnings


def test_a_maintain_at_most_target_is_shown_with_at_most(tmp_path: Path) -> None:
    from rich.console import Console

    from okrsync.cli.console import status_table

    guard = """- id: latency
  title: p95 latency stays low
  type: maintain
  direction: at_most
  target: 300
  source:
    connection: stats
    path: /api/v1/metrics/p95
    value: $.data.value
- id: uptime
  title: uptime stays high
  type: maintain
  target: 99.5
  source:
    connection: stats
    path: /api/v1/metrics/uptime
    value: $.data.value
"""
    files = {
        "connections.yaml": connections_yaml("http://127.0.0.1:9"),
        "okrs.yaml": mapping([objective_yaml("ops", [guard])]),
    }
    config = load(write(tmp_path, files))
    views = snapshot.build(config, {"latency": state("latency", 250)}, NOW)
    console = Console(width=200, record=True)
    console.print(status_table(views, NOW))
    rows = {
        line.split("•")[1].split()[0]: line
        for line in console.export_text().splitlines()
        if "•" in line
    }
    assert "≤ 300" in rows["latency"]
    assert "≥" not in rows["latency"]
    assert "≥ 99.5" in rows["uptime"]
    assert views[0].key_results[0].to_json()["direction"] == "at_most"
