"""The status table fitted to the terminal: at 80 and 160 columns nothing a person needs is cut."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from okrsync.cli.console import plan_lines, status_table
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.domain.snapshot import ObjectiveView
from okrsync.publish import snapshot
from okrsync.sync.changes import Change
from okrsync.sync.plan import Plan
from tests.publish.test_snapshot import state
from tests.support import EXAMPLES, NOW

DOWN = "connection 'stats': HTTP 503 from GET /api/v1/metrics/uptime: Service Unavailable"


@pytest.fixture(scope="module")
def views() -> list[ObjectiveView]:
    config = loader.load(EXAMPLES, Registry.default(), secrets="skip")
    states = {
        "annual-revenue": state("annual-revenue", 13e6),
        "website-traffic": state("website-traffic", 510_000),  # past the expected mark
        "launch-2-0": state("launch-2-0", 0),  # a milestone: no schedule to mark
        "uptime": replace(state("uptime", 99.9), last_status="error", last_error=DOWN),
    }
    return snapshot.build(config, states, NOW)


def render(views: list[ObjectiveView], width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(status_table(views, NOW, width))
    return [line.rstrip() for line in console.export_text().splitlines()]


def row(lines: list[str], kr_id: str) -> str:
    return next(line for line in lines if f"• {kr_id}" in line)


@pytest.mark.parametrize("width", [80, 160])
def test_every_number_and_status_word_fits_whole(views: list[ObjectiveView], width: int) -> None:
    lines = render(views, width)
    assert max(len(line) for line in lines) <= width
    revenue = row(lines, "annual-revenue")
    for cell in ("off_track", "13M USD", "24M USD", "5m ago", "8%"):
        assert cell in revenue, revenue
    assert "not measured yet" in row(lines, "support-ti")  # not "stale" before any value
    assert "error" in row(lines, "uptime")
    assert "≥ 99.5%" in row(lines, "uptime")
    assert "1 done · 1 on_track · 1 off_track · 9 not measured yet · 1 error" in lines
    assert f"↳ uptime: {DOWN}" in " ".join(lines).replace("\n", " ").replace("  ", " ")


def test_at_80_columns_the_titles_and_bars_go_first(views: list[ObjectiveView]) -> None:
    lines = render(views, 80)
    header = next(line for line in lines if "Objective" in line)
    assert "Title" not in header
    assert "Progress" not in header
    assert "Grow annual revenue" not in "\n".join(lines)


def test_at_160_columns_titles_are_whole_and_marks_are_drawn(views: list[ObjectiveView]) -> None:
    lines = render(views, 160)
    assert "Grow annual revenue run-rate from 12M to 24M USD" in row(lines, "annual-revenue")
    assert "│" in row(lines, "annual-revenue")  # behind schedule: the mark ahead of the bar
    assert "▌" in row(lines, "website-traffic")  # past the mark: still drawn
    launch = row(lines, "launch-2-0")
    assert "░" in launch
    assert "│" not in launch  # a milestone is done or not: no expected mark
    assert "▌" not in launch


def test_teams_show_on_objectives_and_owners_where_there_is_room(
    views: list[ObjectiveView],
) -> None:
    narrow = render(views, 160)
    assert "Owner" not in next(line for line in narrow if "Objective" in line)
    assert "Ship version 2.0 that users love · product · aspi" in row_of(narrow, "ship")
    wide = render(views, 200)
    assert "Owner" in next(line for line in wide if "Objective" in line)
    assert row(wide, "signups").endswith("growth-lead")  # the name part of the address
    assert row_of(wide, "double-revenue").endswith("cfo")


def row_of(lines: list[str], objective: str) -> str:
    return next(line for line in lines if f"◆ {objective}" in line)


def test_plan_marks_each_kind_of_change_and_says_milestones_yes_no() -> None:
    config = loader.load(EXAMPLES, Registry.default(), secrets="skip")
    found = [
        Change("launch-2-0", "change", 0.0, 1.0, "jira", "issue PROD-200"),
        Change("uptime", "error", 99.9, None, "prometheus", "PromQL", reason=DOWN),
        Change("signups", "held", 40.0, 9000.0, "posthog", "HogQL", reason="above max 5000"),
        Change("support-tickets", "same", 40.0, 40.0, "jira", "JQL count: project = SUP"),
    ]
    plan = Plan(now=NOW, queries={}, skipped={"beta-program": "not due (refresh 1d)"})
    console = Console(width=200, record=True, file=io.StringIO())
    for line in plan_lines(config, plan, found):
        console.print(line)
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert "  ~ launch-2-0       no → yes" in lines
    assert f"  ! uptime           99.9%, would fail: {DOWN}" in lines
    assert "  ? signups          40 sign-ups → 9,000 sign-ups would be held: above max 5000" in (
        lines
    )
    assert "    support-tickets  40 tickets (unchanged)" in lines
    assert "JQL count: project = SUP" not in "\n".join(lines)  # unchanged: quiet
    assert "      prometheus: PromQL" in lines
    assert "Nothing due; okrsync plan --all measures every key result now." in lines
    assert "  1 not measured now: not due (refresh 1d)" in lines
