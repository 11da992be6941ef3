"""``okrsync grade --cycle``: frozen final values and scores, the reflection report, read-only after.

2026-Q3 is over (this runs after it), measured through real syncs against
the stats simulator; the scores are computed again here from the stored
values, not read from the code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now

IN_Q3 = datetime(2026, 8, 15, 12, tzinfo=UTC)
AFTER_Q3 = datetime(2026, 10, 2, 12, tzinfo=UTC)
ENV = {"TEST_STATS_TOKEN": TOKEN, "COLUMNS": "200"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[list[str], StatsSimulator, loader.Config, str]]:
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 8, 15)) as sim:
        krs = [
            kr_yaml("tickets", "support_tickets_month"),
            kr_yaml("steps", "checkout_steps", start=9, target=6),
        ]
        nps = (
            "- id: nps\n  title: NPS\n  owner: o@example.com\n  start: 30\n  target: 45\n"
            "  source: {manual: true}\n"
        )
        directory = tmp_path / "mappings"
        directory.mkdir()
        (directory / "connections.yaml").write_text(connections_yaml(sim.url))
        objectives = [
            objective_yaml("support", krs),
            objective_yaml("voice", [nps], kind="aspirational"),
        ]
        (directory / "okrs.yaml").write_text(mapping(objectives, cycle="2026-Q3"))
        config = loader.load(directory, Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN})
        url = f"sqlite:///{tmp_path / 's.db'}"
        with Store.open(url) as st:
            sync_now(config, st, now=IN_Q3, runtime=FAST)
            sim.add_fault("/api/v1/metrics/checkout_steps", Fault.status(503), times=10)
            sync_now(config, st, now=IN_Q3 + timedelta(days=7), runtime=FAST)  # steps fails once
            sim.clear_faults()
            sim.today = lambda: date(2026, 9, 30)
            sync_now(config, st, now=AFTER_Q3, runtime=FAST)  # the final values, as of the end
        yield ["--mappings", str(directory), "--store", url], sim, config, url


def score(value: float, start: float, target: float) -> float:
    return round(min(1.0, max(0.0, (value - start) / (target - start))), 2)


def test_grade_freezes_the_scores_and_reports(
    world: tuple[list[str], StatsSimulator, loader.Config, str],
) -> None:
    where, _, _, url = world
    code, out, err = run("grade", "--cycle", "2026-Q3", "--format", "json", *where)
    assert code == 0, err
    assert "graded 2026-Q3: its values and scores are frozen" in err
    graded = json.loads(out)
    assert graded["cycle"] == "2026-Q3"
    with Store.open(url) as st:
        values = {k: s.value for k, s in st.states().items()}
    support = next(o for o in graded["objectives"] if o["id"] == "support")
    by_kr = {k["id"]: k for k in support["key_results"]}
    assert by_kr["tickets"]["value"] == values["tickets"]
    assert by_kr["tickets"]["score"] == score(values["tickets"], 120, 30)
    assert by_kr["steps"]["score"] == score(values["steps"], 9, 6)
    raw = [
        min(1.0, max(0.0, (values["tickets"] - 120) / -90)),
        min(1.0, max(0.0, (values["steps"] - 9) / -3)),
    ]
    assert support["score"] == round(sum(raw) / 2, 2)  # the mean of its two key results
    assert support["success"] == (support["score"] >= 1.0)  # committed
    voice = next(o for o in graded["objectives"] if o["id"] == "voice")
    assert (voice["score"], voice["success"]) == (0.0, False)  # never checked in

    code, report, _ = run("grade", "--cycle", "2026-Q3", *where)  # again: the frozen report
    assert code == 0
    assert report.startswith("# Reflection on 2026-Q3")
    for heading in ("## What was reached", "## What moved most", "## Sources that failed most"):
        assert heading in report
    assert "stats** — 1 failed measurement(s) this cycle" in report
    code, html, _ = run("grade", "--cycle", "2026-Q3", "--format", "html", *where)
    assert "Reflection on 2026-Q3" in html


def test_a_graded_cycle_never_changes_again(
    world: tuple[list[str], StatsSimulator, loader.Config, str],
) -> None:
    where, sim, config, url = world
    code, first, _ = run("grade", "--cycle", "2026-Q3", "--format", "json", *where)
    assert code == 0
    sim.today = lambda: date(2026, 12, 1)  # the source would answer differently now
    with Store.open(url) as st:
        result = sync_now(config, st, now=AFTER_Q3 + timedelta(days=30), runtime=FAST, force=True)
        assert result.records == []
        assert all("is graded" in why for why in result.plan.skipped.values())
    code, again, err = run("grade", "--cycle", "2026-Q3", "--format", "json", *where)
    assert again == first
    assert "was graded" in err
    code, _, err = run("checkin", "nps", "40", *where)
    assert code == 1
    assert "nps belongs to cycle 2026-Q3, which is graded: its values are frozen" in err
    status = json.loads(run("status", "--json", *where)[1])
    support = next(o for o in status["objectives"] if o["id"] == "support")
    frozen = next(o for o in json.loads(first)["objectives"] if o["id"] == "support")
    assert support["grade"]["score"] == frozen["score"]


def test_a_running_or_unknown_cycle_is_not_graded(
    world: tuple[list[str], StatsSimulator, loader.Config, str], tmp_path: Path
) -> None:
    where, _, _, _ = world
    code, _, err = run("grade", "--cycle", "2031-Q1", *where)
    assert code == 1
    assert "unknown cycle '2031-Q1'; the mappings' cycles: 2026-Q3" in err
    running = tmp_path / "running"
    running.mkdir()
    (running / "connections.yaml").write_text("version: 1\nconnections: {}\n")
    nps = "- id: k\n  title: K\n  owner: o@example.com\n  start: 0\n  target: 1\n  source: {manual: true}\n"
    year = datetime.now(UTC).year + 1
    (running / "okrs.yaml").write_text(mapping([objective_yaml("o", [nps])], cycle=str(year)))
    code, _, err = run(
        "grade", "--cycle", str(year), "--mappings", str(running), "--store", where[3]
    )
    assert code == 1
    assert f"cycle {year} runs until {year}-12-31: grade it once it is over" in err
