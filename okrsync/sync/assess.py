"""Stage 3, assess: answers become measurement records; suspicious values are held.

A value outside ``min``/``max`` or a jump beyond ``max_change`` is stored as
``held`` for review and never overwrites the last good value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from okrsync.config.loader import Config, KrEntry
from okrsync.domain.model import max_change_allows
from okrsync.domain.records import InitiativeRecord, KrState, MeasurementRecord
from okrsync.domain.units import format_value
from okrsync.errors import MeasureError
from okrsync.sdk.connector import InitiativeReading, Reading
from okrsync.sdk.redaction import REDACTOR
from okrsync.sync.execute import Executed, Outcome
from okrsync.sync.plan import Plan


def assess(
    plan: Plan,
    outcomes: Mapping[str, Outcome],
    config: Config,
    states: Mapping[str, KrState],
) -> list[MeasurementRecord]:
    """Answers → records: type checks, then min/max/max_change holds."""
    records: list[MeasurementRecord] = []
    for key, query in plan.queries.items():
        outcome = outcomes[key]
        for kr_id in query.kr_ids:
            entry = config.krs[kr_id]
            base: dict[str, Any] = {
                "kr_id": kr_id,
                "measured_at": plan.now,
                "connection": query.connection,
                "query": REDACTOR.redact(query.text),
                "duration_ms": round(outcome.duration_ms, 3),
                "calls": spent(outcome.reading or outcome.error),
                "as_of": plan.as_of.get(kr_id),
            }
            if outcome.reading is None:
                assert outcome.error is not None
                records.append(
                    MeasurementRecord(
                        status="error",
                        error_kind=outcome.error.kind,
                        error=str(outcome.error),
                        **base,
                    )
                )
                continue
            base["raw"] = REDACTOR.redact(outcome.reading.raw)
            value, problem = _coerce(entry, outcome.reading.value)
            if problem is not None:
                records.append(
                    MeasurementRecord(
                        status="error", error_kind="source_data", error=problem, **base
                    )
                )
                continue
            assert value is not None
            state = states.get(kr_id)
            hold = hold_reason(entry, value, state.value if state else None)
            if hold is not None:
                records.append(MeasurementRecord(status="held", value=value, error=hold, **base))
            else:
                records.append(MeasurementRecord(status="ok", value=value, **base))
    return records


def _coerce(entry: KrEntry, value: float | bool) -> tuple[float | None, str | None]:
    if isinstance(value, bool):
        if entry.kr.kind != "milestone":
            return None, f"expected a number for a {entry.kr.kind} key result, got a boolean"
        return float(value), None
    if math.isnan(value) or math.isinf(value):
        return None, f"the source returned {value}, not a number"
    return float(value), None


def spent(result: Reading | InitiativeReading | MeasureError | None) -> int:
    """Vendor calls a query cost, failed ones too (an uncounted failure: the one call)."""
    if result is None:
        return 0
    if isinstance(result, MeasureError):
        return 1 if result.calls is None else result.calls
    return result.calls


def hold_reason(entry: KrEntry, value: float, last: float | None) -> str | None:
    kr = entry.kr

    def shown(x: float) -> str:
        return format_value(x, kr.unit)

    if kr.min is not None and value < kr.min:
        return f"held for review: {shown(value)} is below min {shown(kr.min)}"
    if kr.max is not None and value > kr.max:
        return f"held for review: {shown(value)} is above max {shown(kr.max)}"
    if not max_change_allows(kr, last, value):
        assert last is not None  # max_change_allows is True without a last value
        return (
            f"held for review: a jump from {shown(last)} to {shown(value)} is more than "
            f"max_change {kr.max_change}"
        )
    return None


def summarize(
    config: Config,
    plan: Plan,
    executed: Executed,
    records: list[MeasurementRecord],
    seconds: float,
) -> dict[str, Any]:
    """The run summary stored with the run and logged as one line.

    Vendor calls and errors per connection count queries and initiatives alike;
    ``error_kinds`` splits the errors by kind (the store sums them for /metrics).
    """
    per_connection: dict[str, dict[str, Any]] = {}

    def count(name: str, result: Reading | InitiativeReading | MeasureError | None) -> None:
        stats = per_connection.setdefault(
            name, {"queries": 0, "calls": 0, "errors": 0, "error_kinds": {}}
        )
        stats["calls"] += spent(result)
        if isinstance(result, MeasureError):
            stats["errors"] += 1
            stats["error_kinds"][result.kind] = stats["error_kinds"].get(result.kind, 0) + 1

    for key, query in plan.queries.items():
        outcome = executed.outcomes[key]
        count(query.connection, outcome.reading or outcome.error)
        per_connection[query.connection]["queries"] += 1
    for (name, _), result in executed.initiatives.items():
        count(name, result)
    return {
        "config": config.fingerprint,
        "krs": len(config.krs),
        "measured": len(records),
        "ok": sum(r.status == "ok" for r in records),
        "errors": sum(r.status == "error" for r in records),
        "held": sum(r.status == "held" for r in records),
        "skipped": len(plan.skipped),
        "queries": len(plan.queries),
        "initiatives": len(plan.initiatives),
        "calls": sum(s["calls"] for s in per_connection.values()),
        "connections": per_connection,
        "duration_s": round(seconds, 3),
    }


def initiative_records(plan: Plan, executed: Executed) -> list[InitiativeRecord]:
    records = []
    for (name, issue), kr_ids in plan.initiatives.items():
        reading = executed.initiatives[(name, issue)]
        for kr_id in kr_ids:
            if isinstance(reading, MeasureError):
                records.append(InitiativeRecord(kr_id, issue, name, plan.now, error=str(reading)))
            else:
                records.append(
                    InitiativeRecord(
                        kr_id, issue, name, plan.now, title=REDACTOR.redact(reading.title),
                        done=reading.done, total=reading.total, status=reading.status,
                        measured_at=plan.now,
                    )
                )  # fmt: skip
    return records


__all__ = ["assess", "initiative_records", "summarize"]
