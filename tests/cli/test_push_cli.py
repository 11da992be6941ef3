"""Pushes as users see them: plan lists them, push sends them, explain and status show them."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from tests.publish.test_push import TOOL_TOKEN, Receiver
from tests.publish.test_push_kill import PLUGIN
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml

ENV = {"TEST_STATS_TOKEN": TOKEN, "TOOL_TOKEN": TOOL_TOKEN, "OKRSYNC_LOG_FORMAT": "json"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[None]:
    """The recorder destination installed as a distribution, as a user's package would be."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "okr_recorder.py").write_text(PLUGIN)
    dist = site / "okr_recorder-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: okr-recorder\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[okrsync.publishers]\nrecorder = okr_recorder:PUBLISHER\n"
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("okr_recorder", None)


@pytest.fixture
def world(tmp_path: Path, recorder: None) -> Iterator[tuple[list[str], StatsSimulator, Receiver]]:
    with (
        StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as sim,
        Receiver() as tool,
    ):
        krs = [
            kr_yaml("tickets", "support_tickets_month", push="{tool: T-1}"),
            kr_yaml("steps", "checkout_steps", start=9, target=6, push="{tool: T-2}"),
        ]
        destinations = f"destinations:\n  tool:\n    type: recorder\n    url: {tool.url}\n"
        destinations += "    token: ${TOOL_TOKEN}\n    retry: {attempts: 2}\n"
        mappings = tmp_path / "mappings"
        mappings.mkdir()
        (mappings / "connections.yaml").write_text(connections_yaml(sim.url) + destinations)
        (mappings / "okrs.yaml").write_text(mapping([objective_yaml("obj", krs)]))
        where = ["--mappings", str(mappings), "--store", f"sqlite:///{tmp_path / 's.db'}"]
        yield where, sim, tool


def test_plan_lists_the_pushes_a_sync_would_make_and_sends_none(
    world: tuple[list[str], StatsSimulator, Receiver],
) -> None:
    where, _, tool = world
    code, out, _ = run("plan", *where)
    assert code == 0
    assert "Pushes a sync would make: 2 value(s)" in out
    assert "  → tool T-1 (tickets): — → " in out
    assert tool.requests == []


def test_a_failed_push_shows_in_status_and_explain_and_push_sends_it_later(
    world: tuple[list[str], StatsSimulator, Receiver],
) -> None:
    where, _, tool = world
    tool.add_fault("/items/T-1", Fault.status(503), times=2)
    code, _, err = run("sync", *where)
    assert code == 1  # the measurement is stored, its push failed
    assert "push tickets → tool T-1: destination 'tool': HTTP 503" in err
    status = json.loads(run("status", "--json", *where)[1])
    [failed] = status["pushes"]["failed"]
    assert (failed["key_result"], failed["item"], failed["outcome"]) == ("tickets", "T-1", "error")
    assert [p["item"] for p in status["pushes"]["pending"]] == ["T-1"]
    table = run("status", *where)[1]
    assert "↳ push tickets → tool T-1 failed: destination 'tool': HTTP 503" in table
    assert "1 push(es) pending: the next sync or okrsync push sends them" in table
    explained = run("explain", "tickets", *where)[1]
    assert "  pushed      tool T-1: failed at " in explained

    code, out, _ = run("push", "--dry-run", *where)
    assert code == 0
    assert "Pushes: 1 value(s)" in out
    assert [g.item for g in tool.received] == ["T-2"]  # a dry run sends nothing
    code, out, _ = run("push", *where)
    assert code == 0
    assert "1 pushed, 0 failed" in out
    assert sorted(g.item for g in tool.received) == ["T-1", "T-2"]
    assert "  pushed      tool T-1: ok " in run("explain", "tickets", *where)[1]
    code, out, _ = run("push", *where)
    assert "Pushes: nothing due" in out
    assert len(tool.received) == 2


def test_push_history_skips_a_destination_that_keeps_no_dates(
    world: tuple[list[str], StatsSimulator, Receiver],
) -> None:
    where, _, tool = world
    run("sync", *where)
    sent = len(tool.received)
    code, _, _ = run("push", "--history", "--since", "2026-10-01", *where)
    assert code == 0
    assert len(tool.received) == sent  # the recorder is not dated: no history sent
    assert run("push", "--since", "2026-10-01", *where)[0] == 2  # --since needs --history
    with Store.open(where[3]) as st:
        assert len(st.accepted()) == 2
