"""Stage 3, assess: answers become measurement records; suspicious values are held.

A value outside ``min``/``max`` or a jump beyond ``max_change`` is stored as
``held`` for review and never overwrites the last good value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from okrsync.config.loader import Config, KrEntry
from okrsync.domain import expression
from okrsync.domain.model import max_change_allows
from okrsync.domain.records import InitiativeRecord, KrState, MeasurementRecord
from okrsync.domain.units import format_value
from okrsync.errors import MeasureError
from okrsync.sdk.connector import InitiativeReading, Reading
from okrsync.sdk.redaction import REDACTOR
from okrsync.sync.execute import Executed, Outcome, spent_calls
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
        if _held_back(outcome):
            continue  # never sent: its key results are in plan.throttled, not in the history
        for kr_id in query.kr_ids:
            entry = config.krs[kr_id]
            base: dict[str, Any] = {
                "kr_id": kr_id,
                "measured_at": plan.now,
                "connection": query.connection,
                "query": REDACTOR.redact(query.text),
                "duration_ms": round(outcome.duration_ms, 3),
                "calls": spent_calls(outcome.reading or outcome.error),
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
    for kr_id, keys in plan.derived.items():
        if not any(_held_back(outcomes[k]) for k in keys.values()):
            records.append(_derived(plan, outcomes, config, states, kr_id, keys))
    return records


def _held_back(outcome: Outcome) -> bool:
    """The gate kept it from being sent (its quota): no measurement, a throttle instead."""
    return outcome.error is not None and outcome.error.kind == "throttled"


def _derived(
    plan: Plan,
    outcomes: Mapping[str, Outcome],
    config: Config,
    states: Mapping[str, KrState],
    kr_id: str,
    keys: Mapping[str, str],
) -> MeasurementRecord:
    """A derived key result's record: its expression over its inputs' answers.

    The query names every input's own query, and the raw answer every input's
    value, so explain shows where each part came from. A failed input, a
    non-number or a division by zero is an error naming the input.
    """
    entry = config.krs[kr_id]
    assert entry.derived is not None
    shown = "; ".join(f"{n} = {plan.queries[k].text}" for n, k in keys.items())
    calls = sum(spent_calls(outcomes[k].reading or outcomes[k].error) for k in set(keys.values()))
    base: dict[str, Any] = {
        "kr_id": kr_id,
        "measured_at": plan.now,
        "connection": "derived",
        "query": REDACTOR.redact(f"{entry.derived.text} where {shown}"),
        "duration_ms": round(max(outcomes[k].duration_ms for k in keys.values()), 3),
        "calls": calls,
        "as_of": plan.as_of.get(kr_id),
    }
    values: dict[str, float] = {}
    for name, key in keys.items():
        outcome = outcomes[key]
        if outcome.reading is None:
            assert outcome.error is not None
            return MeasurementRecord(status="error", error_kind=outcome.error.kind,
                                     error=f"input {name!r} failed: {outcome.error}", **base)  # fmt: skip
        value = outcome.reading.value
        if isinstance(value, bool) or not math.isfinite(value):
            return MeasurementRecord(status="error", error_kind="source_data",
                                     error=f"input {name!r} is not a number: {value}", **base)  # fmt: skip
        values[name] = float(value)
    base["raw"] = REDACTOR.redact("; ".join(f"{n} = {v:g}" for n, v in values.items()))
    try:
        result = expression.evaluate(entry.derived.tree, values)
    except ArithmeticError as exc:
        return MeasurementRecord(status="error", error_kind="source_data",
                                 error=f"{entry.derived.text}: {exc}", **base)  # fmt: skip
    state = states.get(kr_id)
    hold = hold_reason(entry, result, state.value if state else None)
    if hold is not None:
        return MeasurementRecord(status="held", value=result, error=hold, **base)
    return MeasurementRecord(status="ok", value=result, **base)


def _coerce(entry: KrEntry, value: float | bool) -> tuple[float | None, str | None]:
    if isinstance(value, bool):
        if entry.kr.kind != "milestone":
            return None, f"expected a number for a {entry.kr.kind} key result, got a boolean"
        return float(value), None
    if math.isnan(value) or math.isinf(value):
        return None, f"the source returned {value}, not a number"
    return float(value), None


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
            name, {"queries": 0, "calls": 0, "errors": 0, "error_kinds": {}, "throttled": 0}
        )
        if isinstance(result, MeasureError) and result.kind == "throttled":
            stats["throttled"] += 1  # never sent: no call, no error (SPEC §8)
            return
        stats["calls"] += spent_calls(result)
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
        "throttled": len(plan.throttled),
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
        if isinstance(reading, MeasureError) and reading.kind == "throttled":
            continue  # not asked: its quota had no room; the last reading stays
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
