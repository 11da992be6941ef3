"""The OKR tree as it stands: config + stored state + time → progress, status, provenance.

Pure assembly over :mod:`okrsync.domain.progress`, the one place those numbers
are computed: ``status`` prints what :func:`build` returns, ``explain`` what
:func:`explain` returns, and every publisher receives what :func:`take`
returns after a run's store write. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from okrsync.config.loader import Config, KrEntry
from okrsync.domain import progress as pm
from okrsync.domain.model import Objective
from okrsync.domain.records import (
    InitiativeRecord,
    KrState,
    MeasurementRecord,
    PushRecord,
    RunRecord,
)
from okrsync.domain.snapshot import (
    Change,
    InitiativeView,
    KrView,
    ObjectiveView,
    Provenance,
    Snapshot,
)
from okrsync.domain.units import format_about, format_duration
from okrsync.sdk.redaction import REDACTOR

SIMULATED_TRIGGERS = ("demo", "simulated")  # runs whose values came from built-in simulators
HistoryFn = Callable[[str, datetime], Sequence[tuple[datetime, float]]]


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
            forecast = pm.forecast_of(cycle, points)
        status = pm.kr_status(
            kr,
            progress=raw,
            expected=expected,
            now=now,
            measured_at=state.measured_at if state else None,
            last_status=state.last_status if state else None,
            forecast=forecast,
            cycle_over=cycle.is_over(now),
            throttled=bool(state and state.throttled_reason),
        )
        kr_views[kr_id] = KrView(
            id=kr_id,
            title=kr.title,
            owner=kr.owner,
            kind=kr.kind,
            direction=kr.direction,
            unit=kr.unit,
            value=value,
            start=kr.start,
            target=kr.target,
            raw_progress=raw,
            progress=pm.clamp(raw),
            expected=expected,
            forecast=forecast.value if forecast else None,
            forecast_interval=(forecast.low, forecast.high) if forecast else None,
            status=status,
            measured_at=state.measured_at if state else None,
            last_error=state.last_error if state and state.last_status != "ok" else None,
            held_value=state.held_value if state else None,
            held_reason=state.held_reason if state else None,
            stale_reason=_stale_reason(entry, state) if status == "stale" else None,
            throttled_reason=state.throttled_reason if state and status == "throttled" else None,
            can_refresh=state.throttled_refresh if state and status == "throttled" else None,
            as_of=state.as_of if state else None,
            initiatives=[
                InitiativeView(i, _status_word(config, i))
                for i in (initiatives or {}).get(kr_id, [])
                if (i.connection, i.issue) in entry.initiatives
            ],
        )

    progress = pm.rollup(config.objectives, {k: v.progress for k, v in kr_views.items()})
    children = pm.aligned_children(config.objectives)
    expected_of = {o.id: pm.expected_progress(config.cycles[o.id], now) for o in config.objectives}
    over_of = {o.id: config.cycles[o.id].is_over(now) for o in config.objectives}
    statuses: dict[str, pm.Status] = {}

    def status_of(obj: Objective) -> pm.Status:
        """Its key results' statuses and, rolling up children, theirs (rollup found no cycle)."""
        if obj.id not in statuses:
            parts = [kr_views[kr.id].status for kr in obj.key_results if kr.id in kr_views]
            if obj.rollup == "children":
                parts += [status_of(child) for child in children[obj.id]]
            statuses[obj.id] = pm.objective_status(
                progress.get(obj.id), expected_of[obj.id], parts, cycle_over=over_of[obj.id]
            )
        return statuses[obj.id]

    views: dict[str, ObjectiveView] = {}
    for obj in config.objectives:
        cycle = config.cycles[obj.id]
        krs = [kr_views[kr.id] for kr in obj.key_results if kr.id in kr_views]
        views[obj.id] = ObjectiveView(
            id=obj.id,
            title=obj.title,
            owner=obj.owner,
            level=obj.level,
            kind=obj.kind,
            cycle=cycle.name,
            parent=obj.parent,
            progress=progress.get(obj.id),
            expected=expected_of[obj.id],
            status=status_of(obj),
            grade=pm.grade(obj, progress.get(obj.id)) if over_of[obj.id] else None,
            key_results=krs,
            team=obj.team,
            cycle_start=cycle.start,
            cycle_end=cycle.end,
        )
    for parent, aligned in children.items():
        views[parent].children.extend(views[child.id] for child in aligned)
    return [views[o.id] for o in config.objectives]


def _stale_reason(entry: KrEntry, state: KrState | None) -> str | None:
    """Why a key result is stale: how old its last good value is, and what to do for a manual one."""
    kr = entry.kr
    measured = state.measured_at if state else None
    if measured is None:
        return (
            f"waiting for its first check-in: okrsync checkin {kr.id} VALUE"
            if entry.manual
            else None
        )
    what = "check-in" if entry.manual else "good value"
    since = f"no {what} since {measured:%Y-%m-%d %H:%M} UTC (stale after {format_duration(kr.freshness)})"
    return f"{since}: okrsync checkin {kr.id} VALUE" if entry.manual else since


def _status_word(config: Config, record: InitiativeRecord) -> str:
    """The connector's word for the vendor's status (``Connector.status_words``)."""
    status = record.status or ""
    settings = config.connections.get(record.connection)
    if settings is None or settings.type not in config.registry:
        return status
    return config.registry[settings.type].status_words.get(status, status)


def roots(views: list[ObjectiveView]) -> list[ObjectiveView]:
    child_ids = {c.id for v in views for c in v.children}
    return [v for v in views if v.id not in child_ids]


def to_json(views: list[ObjectiveView], now: datetime | None = None) -> dict[str, Any]:
    """``status --json``: the objectives in file order, and the instant they are as of."""
    return {"as_of": now.isoformat() if now else None, "objectives": [v.to_json() for v in views]}


def measurement(entry: KrEntry, m: MeasurementRecord) -> dict[str, Any]:
    """One stored measurement with the progress it meant (``history``, ``explain``)."""
    raw = pm.raw_progress(entry.kr, m.value) if m.status == "ok" else None
    return {
        "measured_at": m.measured_at.isoformat(),
        "as_of": (m.as_of or m.measured_at).isoformat(),
        "backfilled": m.backfilled,
        "status": m.status,
        "value": m.value,
        "progress": None if raw is None else round(raw, 4),
        "error": m.error,
        "run_id": m.run_id,
    }


def explain(
    config: Config,
    entry: KrEntry,
    state: KrState | None,
    points: Sequence[MeasurementRecord],
    trigger: str | None = None,
) -> dict[str, Any]:
    """Provenance of a key result's number, as data (printed or --json).

    ``trigger`` is what started the run of the last value: a ``demo`` or
    ``simulated`` one came from a built-in simulator, not the configured URL.
    """
    kr = entry.kr
    connection = None
    if entry.source is not None:
        settings = config.connections.get(entry.source.connection)
        connection = {
            "name": entry.source.connection,
            "type": entry.connection_type,
            "url": REDACTOR.redact(config.registry[settings.type].address(settings))
            if settings
            else None,
        }
    last = points[-1] if points else None
    return {
        "key_result": {"id": kr.id, "title": kr.title, "type": kr.kind, "unit": kr.unit,
                       "start": kr.start, "target": kr.target, "owner": kr.owner},
        "objective": entry.objective.id,
        "file": entry.file,
        "connection": connection,
        "manual": entry.manual,
        "derived": {
            "expression": entry.derived.text,
            "inputs": {
                name: {"connection": given.source.connection, "type": given.connection_type,
                       "source": given.source.model_dump(mode="json", exclude_none=True)}
                for name, given in entry.derived.inputs.items()
            },
        } if entry.derived else None,
        "simulated": trigger in SIMULATED_TRIGGERS,
        "source": entry.source.model_dump(mode="json", exclude_none=True) if entry.source else None,
        "rendered_query": state.query if state else None,
        "value": state.value if state else None,
        "measured_at": state.measured_at.isoformat() if state and state.measured_at else None,
        "as_of": state.as_of.isoformat() if state and state.as_of else None,
        "settle": format_duration(kr.settle) if kr.settle else None,
        "throttled": (
            {
                "reason": state.throttled_reason,
                "since": state.throttled_at.isoformat() if state.throttled_at else None,
                "refresh": format_duration(kr.refresh),
                "can_refresh": (
                    format_about(state.throttled_refresh) if state.throttled_refresh else None
                ),
            }
            if state and state.throttled_reason
            else None
        ),
        "last_attempt": {
            "at": last.measured_at.isoformat(),
            "status": last.status,
            "value": last.value,
            "raw": last.raw,
            "error": last.error,
            "error_kind": last.error_kind,
            "duration_ms": last.duration_ms,
            "calls": last.calls,
            "run_id": last.run_id,
        } if last else None,
        "history": [measurement(entry, m) for m in points],
    }  # fmt: skip


def push_json(p: PushRecord) -> dict[str, Any]:
    """One push attempt as ``explain --json`` and ``status --json`` show it."""
    return {
        "destination": p.destination,
        "item": p.item,
        "key_result": p.kr_id,
        "value": p.value,
        "measured_at": p.measured_at.isoformat(),
        "attempted_at": p.attempted_at.isoformat(),
        "outcome": p.outcome,
        "error": p.error,
        "receipt": p.receipt,
        "run_id": p.run_id,
    }


def take(
    config: Config,
    run: RunRecord,
    before: Mapping[str, KrState],
    after: Mapping[str, KrState],
    now: datetime,
    initiatives: Mapping[str, list[InitiativeRecord]] | None = None,
) -> Snapshot:
    """The snapshot publishers receive: the tree after ``run``, and what moved since ``before``.

    ``before`` and ``after`` are the key-result states read around the run's
    write; both trees are assessed as of ``now``, so a change is the run's
    doing and not the clock's.
    """
    views = build(config, after, now, initiatives=initiatives)
    earlier = {kr.id: kr for o in build(config, before, now) for kr in o.key_results}
    changes = [
        Change(kr.id, was.value, kr.value, was.status, kr.status)
        for o in views
        for kr in o.key_results
        if (was := earlier[kr.id]).value != kr.value or was.status != kr.status
    ]
    provenance = {
        kr_id: Provenance(s.connection, s.query, s.measured_at, s.last_run_id)
        for kr_id, s in after.items()
        if kr_id in config.krs
    }
    return Snapshot(run, now, views, changes, provenance)


__all__ = [
    "build",
    "explain",
    "measurement",
    "push_json",
    "roots",
    "take",
    "to_json",
]
