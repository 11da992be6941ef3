"""What a publisher, the status table and the dashboard read: the OKR tree after a run.

Plain data: built by :mod:`okrsync.publish.snapshot` from the configuration
and the store, read by publishers (which see no store and no config) and by
the CLI. ``to_json`` is the shape of ``status --json`` and ``/api/status``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from okrsync.domain import progress as pm
from okrsync.domain.records import InitiativeRecord, RunRecord


@dataclass(frozen=True)
class InitiativeView:
    """An initiative beside a key result; ``status_word`` is its status as people read it."""

    record: InitiativeRecord
    status_word: str

    def to_json(self) -> dict[str, Any]:
        i = self.record
        return {
            "issue": i.issue,
            "connection": i.connection,
            "title": i.title,
            "done": i.done,
            "total": i.total,
            "completion": _r(i.completion),
            "status": i.status,
            "status_word": self.status_word,
            "error": i.error,
        }


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
    initiatives: list[InitiativeView] = field(default_factory=list)
    direction: str | None = None  # maintain: at_least (value ≥ target) or at_most (≤)
    held_reason: str | None = None
    stale_reason: str | None = None
    as_of: datetime | None = None  # what the value describes, when not measured_at (settle)
    forecast_interval: tuple[float, float] | None = None  # 90 % of raw progress at cycle end
    throttled_reason: str | None = None  # why its quota keeps it from being measured as asked
    can_refresh: float | None = None  # seconds: the refresh its quota allows, when known

    @property
    def reason(self) -> str | None:
        """Why it is not simply its status: the error, why it is stale, or why a value is held."""
        if self.status == "error":
            return self.last_error
        if self.status == "throttled":
            return self.throttled_reason
        if self.held_value is not None:
            return self.held_reason
        return self.stale_reason if self.status == "stale" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner": self.owner,
            "type": self.kind,
            "direction": self.direction,
            "value": self.value,
            "unit": self.unit,
            "start": self.start,
            "target": self.target,
            "progress": _r(self.progress),
            "raw_progress": _r(self.raw_progress),
            "expected": _r(self.expected),
            "forecast": _r(self.forecast),
            "forecast_interval": (
                [_r(self.forecast_interval[0]), _r(self.forecast_interval[1])]
                if self.forecast_interval
                else None
            ),
            "status": self.status,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "error": self.last_error,
            "held_value": self.held_value,
            "reason": self.reason,
            "can_refresh_s": self.can_refresh,
            "initiatives": [i.to_json() for i in self.initiatives],
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
    team: str | None = None
    cycle_start: date | None = None
    cycle_end: date | None = None  # inclusive

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner": self.owner,
            "team": self.team,
            "level": self.level,
            "kind": self.kind,
            "cycle": self.cycle,
            "cycle_start": self.cycle_start.isoformat() if self.cycle_start else None,
            "cycle_end": self.cycle_end.isoformat() if self.cycle_end else None,
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


@dataclass(frozen=True)
class Provenance:
    """Where a key result's value came from: what okrsync asked, of which connection, when."""

    connection: str | None
    query: str | None
    measured_at: datetime | None
    run_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "query": self.query,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class Change:
    """A key result whose value or status moved since the previous run."""

    kr_id: str
    value_before: float | None
    value: float | None
    status_before: pm.Status
    status: pm.Status

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.kr_id,
            "value_before": self.value_before,
            "value": self.value,
            "status_before": self.status_before,
            "status": self.status,
        }


@dataclass(frozen=True)
class Snapshot:
    """The OKR tree as one run left it: what every publisher receives after the store write."""

    run: RunRecord
    as_of: datetime
    objectives: list[ObjectiveView]  # file order; ``children`` links aligned objectives
    changes: list[Change]
    provenance: dict[str, Provenance]  # kr id → where its value came from

    def key_results(self) -> Iterator[KrView]:
        for objective in self.objectives:
            yield from objective.key_results

    def to_json(self) -> dict[str, Any]:
        return {
            "run": {"id": self.run.id, "status": self.run.status, "trigger": self.run.trigger,
                    "finished_at": self.run.finished_at.isoformat()},
            "as_of": self.as_of.isoformat(),
            "objectives": [o.to_json() for o in self.objectives],
            "changes": [c.to_json() for c in self.changes],
            "provenance": {k: v.to_json() for k, v in self.provenance.items()},
        }  # fmt: skip


__all__ = ["Change", "InitiativeView", "KrView", "ObjectiveView", "Provenance", "Snapshot"]
