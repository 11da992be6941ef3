"""Values people record by hand: check-ins of manual key results, and held values reviewed.

Each is a run of its own (trigger ``checkin``, ``hold accept`` or ``hold
reject``) whose summary names who and why, so ``history`` and ``explain``
show where every value came from, measured or typed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

from okrsync.config.loader import KrEntry
from okrsync.domain.records import KrState, MeasurementRecord, RunRecord
from okrsync.domain.units import parse_clock
from okrsync.store.database import NothingHeld, Store
from okrsync.sync.assess import hold_reason

MANUAL = "manual"  # the connection name a check-in is recorded under
_YES, _NO = {"yes", "done", "true", "1"}, {"no", "not done", "false", "0"}


def parse_value(entry: KrEntry, text: str) -> float:
    """What a person types, in the key result's own terms: ``3:45``, ``45%``, ``1,204``, ``yes``."""
    cleaned = text.strip().lower()
    if entry.kr.kind == "milestone":
        if cleaned in _YES | _NO:
            return 1.0 if cleaned in _YES else 0.0
        raise ValueError(f"{entry.kr.id} is a milestone: check in yes or no, not {text!r}")
    if (seconds := parse_clock(cleaned)) is not None:
        return float(seconds)
    try:
        value = float(cleaned.removesuffix("%").replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a number (write 1204, 12.5, 45% or 3:45)") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def checkin(
    store: Store,
    entry: KrEntry,
    value: float,
    *,
    by: str,
    comment: str | None,
    now: datetime,
) -> MeasurementRecord:
    """Record a manual key result's value, as a run of its own."""
    kr = entry.kr
    if not entry.manual:
        where = f"connection {entry.source.connection!r}" if entry.source else "no source"
        raise ValueError(
            f"{kr.id} is measured from {where}; checkin is for key results with "
            "source: {manual: true}"
        )
    state = store.state(kr.id)
    if reason := hold_reason(entry, value, state.value if state else None):
        raise ValueError(f"{reason.removeprefix('held for review: ')}: check the value")
    note = f"checked in by {by}" + (f": {comment}" if comment else "")
    record = MeasurementRecord(
        kr_id=kr.id, measured_at=now, status="ok", value=value, connection=MANUAL, raw=note
    )
    summary = {"checkin": kr.id, "by": by, "comment": comment, "value": value}
    run = RunRecord(
        started_at=now, finished_at=now, status="ok", trigger="checkin", summary=summary
    )
    run_id = store.record_run(run, [record])
    return replace(record, run_id=run_id)


def accept(
    store: Store, kr_id: str, *, by: str, why: str | None, now: datetime
) -> MeasurementRecord:
    """The held value becomes the good value; raises NothingHeld if none is held."""
    summary = {"accepted": kr_id, "by": by, "why": why, **_held(store, kr_id)}
    run = RunRecord(
        started_at=now, finished_at=now, status="ok", trigger="hold accept", summary=summary
    )
    return store.accept_held(
        kr_id, run, f"held value accepted by {by}" + (f": {why}" if why else "")
    )


def reject(store: Store, kr_id: str, *, by: str, why: str | None, now: datetime) -> KrState:
    """The held value is dropped; the good value stays. Raises NothingHeld if none is held."""
    summary = {"rejected": kr_id, "by": by, "why": why, **_held(store, kr_id)}
    run = RunRecord(
        started_at=now, finished_at=now, status="ok", trigger="hold reject", summary=summary
    )
    return store.reject_held(kr_id, run)


def _held(store: Store, kr_id: str) -> dict[str, object]:
    """What is held, for the run's summary (the store checks it again as it writes)."""
    state = store.state(kr_id)
    if state is None or state.held_value is None:
        raise NothingHeld(f"{kr_id} holds no value for review")
    held_at = state.held_at.isoformat() if state.held_at else None
    return {"value": state.held_value, "held_at": held_at, "reason": state.held_reason}


__all__ = ["MANUAL", "accept", "checkin", "parse_value", "reject"]
