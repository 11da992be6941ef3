"""The status table fitted to the terminal: at 80 and 160 columns nothing a person needs is cut."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from okrsync.cli.console import status_table
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.domain.snapshot import ObjectiveView
from okrsync.publish import snapshot
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
    assert "1 done · 1 on_track · 1 off_track · 8 not measured yet · 1 error" in lines
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
