"""Narrowing the example company's tree: what each filter keeps, and the context it leaves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.domain.snapshot import ObjectiveView
from okrsync.publish import snapshot
from okrsync.publish.filters import Filters, narrow
from tests.publish.test_snapshot import state
from tests.support import EXAMPLES, NOW

# The example tree: double-revenue (company) ← ship-2-0-users-love (product) ← reliable-platform
# (engineering, aligned to launch-2-0); double-revenue ← win-with-new-product (sales).


@pytest.fixture(scope="module")
def views() -> list[ObjectiveView]:
    config = loader.load(EXAMPLES, Registry.default(), secrets="skip")
    states = {kr: state(kr, 1.0) for kr in config.krs if kr not in ("signups", "uptime")}
    states["support-tickets"] = replace(states["support-tickets"], held_value=900.0)
    return snapshot.build(config, states, NOW)


def shown(views: list[ObjectiveView]) -> dict[str, list[str]]:
    return {v.id: [kr.id for kr in v.key_results] for v in views}


def test_no_filter_keeps_the_whole_tree(views: list[ObjectiveView]) -> None:
    assert shown(narrow(views, Filters())) == shown(views)
    assert list(shown(views)) == [v.id for v in views]


def test_a_team_keeps_its_objectives_and_the_ones_above_as_context(
    views: list[ObjectiveView],
) -> None:
    narrowed = narrow(views, Filters(team="engineering"))
    assert shown(narrowed) == {
        "double-revenue": [],  # context: no key results of its own shown
        "ship-2-0-users-love": [],
        "reliable-platform": ["uptime", "p95-latency", "beta-program"],
    }
    assert [v.id for v in snapshot.roots(narrowed)] == ["double-revenue"]
    assert [c.id for c in narrowed[0].children] == ["ship-2-0-users-love"]
    assert narrowed[0].progress == views[0].progress  # an objective's own numbers stay whole


def test_an_owner_matches_their_key_results_and_those_of_objectives_they_own(
    views: list[ObjectiveView],
) -> None:
    growth = narrow(views, Filters(owner="growth-lead@example.com"))
    assert shown(growth) == {
        "double-revenue": [],
        "ship-2-0-users-love": ["time-on-site", "signups"],
    }
    cto = shown(narrow(views, Filters(owner="cto@example.com")))
    assert cto["reliable-platform"] == ["uptime", "p95-latency", "beta-program"]
    assert cto["ship-2-0-users-love"] == []


def test_statuses_include_held_and_not_measured(views: list[ObjectiveView]) -> None:
    held = shown(narrow(views, Filters(statuses=frozenset({"held"}))))
    assert held == {"double-revenue": [], "ship-2-0-users-love": ["support-tickets"]}
    waiting = shown(narrow(views, Filters(statuses=frozenset({"not_measured"}))))
    assert [kr for krs in waiting.values() for kr in krs] == ["uptime", "signups"]  # file order
    statuses = {kr.status for v in views for kr in v.key_results}
    assert "stale" in statuses  # the two unmeasured ones: not_measured, never stale here
    stale = shown(narrow(views, Filters(statuses=frozenset({"stale"}))))
    assert [kr for krs in stale.values() for kr in krs] == []


def test_objective_and_depth_cut_the_tree(views: list[ObjectiveView]) -> None:
    assert list(shown(narrow(views, Filters(depth=1)))) == ["double-revenue"]
    assert list(shown(narrow(views, Filters(depth=2)))) == [
        "double-revenue", "ship-2-0-users-love", "win-with-new-product",
    ]  # fmt: skip
    sub = narrow(views, Filters(objective="ship-2-0-users-love"))
    assert list(shown(sub)) == ["reliable-platform", "ship-2-0-users-love"]  # file order
    assert [v.id for v in snapshot.roots(sub)] == ["ship-2-0-users-love"]
    alone = narrow(views, Filters(objective="ship-2-0-users-love", depth=1))
    assert shown(alone) == {"ship-2-0-users-love": shown(views)["ship-2-0-users-love"]}
    with pytest.raises(KeyError):
        narrow(views, Filters(objective="nowhere"))


def test_filters_that_match_nothing_keep_nothing(views: list[ObjectiveView]) -> None:
    assert narrow(views, Filters(team="legal")) == []
    assert narrow(views, Filters(team="sales", owner="cto@example.com")) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"statuses": frozenset({"late"})}, "unknown status late; use done, on_track"),
        ({"depth": 0}, "depth must be 1 or more, not 0"),
    ],
)
def test_a_filter_that_cannot_match_is_refused(filters: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Filters(**filters)  # type: ignore[arg-type]
