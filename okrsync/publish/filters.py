"""Narrowing the OKR tree: by team, level, owner, status, objective and depth.

``status`` takes them as flags; the dashboard takes the same as query
parameters, so a link shares a view. An objective that does not match but
has matching objectives below it stays as their context, without its own
key results, so the tree still reads from the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from okrsync.domain.snapshot import KrView, ObjectiveView
from okrsync.publish.snapshot import roots

# What --status takes: the statuses, plus `held` and `not_measured` (stale before a value).
STATUSES = (
    "done",
    "on_track",
    "at_risk",
    "off_track",
    "stale",
    "throttled",
    "error",
    "held",
    "not_measured",
)


@dataclass(frozen=True)
class Filters:
    team: str | None = None
    level: str | None = None  # an objective's level: company, team, personal
    owner: str | None = None  # a key result's owner, or its objective's
    statuses: frozenset[str] = field(default_factory=frozenset)
    objective: str | None = None  # the subtree under this objective
    depth: int | None = None  # objective levels shown; 1 = the top ones only

    def __post_init__(self) -> None:
        if unknown := sorted(self.statuses - set(STATUSES)):
            raise ValueError(f"unknown status {', '.join(unknown)}; use {', '.join(STATUSES)}")
        if self.depth is not None and self.depth < 1:
            raise ValueError(f"depth must be 1 or more, not {self.depth}")

    @property
    def narrows_key_results(self) -> bool:
        return self.owner is not None or bool(self.statuses)


def kr_statuses(kr: KrView) -> set[str]:
    """The --status words a key result answers to."""
    words: set[str] = {kr.status}
    if kr.held_value is not None:
        words.add("held")
    if kr.status == "stale" and kr.measured_at is None:
        words = {"not_measured"}
    return words


def narrow(views: list[ObjectiveView], filters: Filters) -> list[ObjectiveView]:
    """The views that pass, in file order, their children and key results narrowed too.

    Raises KeyError for an unknown ``filters.objective``.
    """
    by_id = {v.id: v for v in views}
    tops = [by_id[filters.objective]] if filters.objective is not None else roots(views)
    kept: dict[str, ObjectiveView] = {}

    def keeps(kr: KrView, view: ObjectiveView) -> bool:
        if filters.owner is not None and filters.owner not in (kr.owner, view.owner):
            return False
        return not filters.statuses or bool(kr_statuses(kr) & filters.statuses)

    def walk(view: ObjectiveView, level: int) -> ObjectiveView | None:
        deeper = filters.depth is None or level < filters.depth
        children = [c for c in (walk(ch, level + 1) for ch in view.children) if c] if deeper else []
        own = (filters.team is None or view.team == filters.team) and (
            filters.level is None or view.level == filters.level
        )
        krs = [kr for kr in view.key_results if keeps(kr, view)] if own else []
        matched = own and (bool(krs) or not filters.narrows_key_results)
        if not matched and not children:
            return None
        narrowed = replace(view, key_results=krs, children=children)
        kept[view.id] = narrowed
        return narrowed

    for top in tops:
        walk(top, 1)
    return [kept[v.id] for v in views if v.id in kept]


__all__ = ["STATUSES", "Filters", "kr_statuses", "narrow"]
