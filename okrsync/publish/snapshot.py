"""The OKR tree as it stands now: config + stored state + time → progress and status.

Pure assembly over :mod:`okrsync.domain.progress`; the CLI prints it (rich or JSON)
and later the dashboard will serve it. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from okrsync.config.loader import Config
from okrsync.domain import progress as pm
from okrsync.domain.model import Objective
from okrsync.domain.records import InitiativeRecord, KrState

HistoryFn = Callable[[str, datetime], Sequence[tuple[datetime, float]]]


@dataclass(frozen=True)
class KrView:
    id: str
    title: str
    owner: str | None
    kind: str
    unit: str | None
    value: float | None
    start: float | None
    target: float | None
    raw_progress: float | None
    progress: float | None
    expected: float
    forecast: float | None
    status: pm.Status
    measured_at: datetime | None
    last_error: str | None
    held_value: float | None
    initiatives: list[InitiativeRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "type": self.kind,
            "value": self.value,
            "unit": self.unit,
            "start": self.start,
            "target": self.target,
            "progress": _r(self.progress),
            "raw_progress": _r(self.raw_progress),
            "expected": _r(self.expected),
            "forecast": _r(self.forecast),
            "status": self.status,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "error": self.last_error,
            "held_value": self.held_value,
            "initiatives": [
                {
                    "issue": i.issue,
                    "connection": i.connection,
                    "title": i.title,
                    "done": i.done,
                    "total": i.total,
                    "completion": _r(i.completion),
                    "status": i.status,
                    "error": i.error,
                }
                for i in self.initiatives
            ],
        }


@dataclass(frozen=True)
class ObjectiveView:
    id: str
    title: str
    owner: str | None
    level: str
    kind: str
    cycle: str
    parent: str | None
    progress: float | None
    expected: float
    status: pm.Status
    grade: pm.Grade | None  # only once the cycle is over
    key_results: list[KrView]
    children: list[ObjectiveView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "kind": self.kind,
            "cycle": self.cycle,
            "parent": self.parent,
            "progress": _r(self.progress),
            "expected": _r(self.expected),
            "status": self.status,
            "grade": (
                {"score": self.grade.score, "success": self.grade.success} if self.grade else None
            ),
            "key_results": [kr.to_json() for kr in self.key_results],
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def build(
    config: Config,
    states: Mapping[str, KrState],
    now: datetime,
    history: HistoryFn | None = None,
    initiatives: Mapping[str, list[InitiativeRecord]] | None = None,
) -> list[ObjectiveView]:
    """Objective views in file order; ``children`` links aligned objectives (roots first)."""
    kr_views: dict[str, KrView] = {}
    for kr_id, entry in config.krs.items():
        kr, cycle = entry.kr, entry.cycle
        state = states.get(kr_id)
        value = state.value if state else None
        raw = pm.raw_progress(kr, value)
        expected = pm.expected_progress(cycle, now)
        forecast = None
        if history is not None and kr.kind in ("increase", "decrease"):
            points = [
                (t, p)
                for t, v in history(kr_id, cycle.start_at)
                if (p := pm.raw_progress(kr, v)) is not None
            ]
            forecast = pm.forecast_progress(cycle, points)
        status = pm.kr_status(
            kr,
            progress=raw,
            expected=expected,
            now=now,
            measured_at=state.measured_at if state else None,
            last_status=state.last_status if state else None,
            forecast=forecast,
            cycle_over=cycle.is_over(now),
        )
        kr_views[kr_id] = KrView(
            id=kr_id,
            title=kr.title,
            owner=kr.owner,
            kind=kr.kind,
            unit=kr.unit,
            value=value,
            start=kr.start,
            target=kr.target,
            raw_progress=raw,
            progress=pm.clamp(raw),
            expected=expected,
            forecast=forecast,
            status=status,
            measured_at=state.measured_at if state else None,
            last_error=state.last_error if state and state.last_status != "ok" else None,
            held_value=state.held_value if state else None,
            initiatives=[
                i
                for i in (initiatives or {}).get(kr_id, [])
                if (i.connection, i.issue) in entry.initiatives
            ],
        )

    progress = pm.rollup(config.objectives, {k: v.progress for k, v in kr_views.items()})
    views: dict[str, ObjectiveView] = {}
    for obj in config.objectives:
        cycle = config.cycles[obj.id]
        krs = [kr_views[kr.id] for kr in obj.key_results if kr.id in kr_views]
        expected = pm.expected_progress(cycle, now)
        over = cycle.is_over(now)
        views[obj.id] = ObjectiveView(
            id=obj.id,
            title=obj.title,
            owner=obj.owner,
            level=obj.level,
            kind=obj.kind,
            cycle=cycle.name,
            parent=obj.parent,
            progress=progress.get(obj.id),
            expected=expected,
            status=pm.objective_status(
                progress.get(obj.id), expected, [k.status for k in krs], cycle_over=over
            ),
            grade=pm.grade(obj, progress.get(obj.id)) if over else None,
            key_results=krs,
        )
    for obj in config.objectives:
        parent = _parent_objective(config, obj)
        if parent is not None:
            views[parent].children.append(views[obj.id])
    return [views[o.id] for o in config.objectives]


def _parent_objective(config: Config, obj: Objective) -> str | None:
    if obj.parent is None:
        return None
    if obj.parent in config.krs:
        return config.krs[obj.parent].objective.id
    return obj.parent


def roots(views: list[ObjectiveView]) -> list[ObjectiveView]:
    child_ids = {c.id for v in views for c in v.children}
    return [v for v in views if v.id not in child_ids]


def to_json(views: list[ObjectiveView]) -> dict[str, Any]:
    return {"objectives": [v.to_json() for v in views]}


__all__ = ["KrView", "ObjectiveView", "build", "roots", "to_json"]
