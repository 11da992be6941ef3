"""What a sync would change: each measured key result against what the store holds.

``plan`` reads these the way ``terraform plan`` reads resources: a first
value, a changed value, an unchanged one, one that would be held, one that
fails. Computed here, formatted by the CLI.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from okrsync.domain.records import KrState, MeasurementRecord
from okrsync.domain.units import format_duration
from okrsync.sync.plan import Plan

Action = Literal["new", "change", "same", "held", "error"]
ORDER: tuple[Action, ...] = ("change", "new", "held", "error", "same")


@dataclass(frozen=True)
class Change:
    kr_id: str
    action: Action
    old: float | None  # the stored good value
    new: float | None  # the measured value (held ones too); None on error
    connection: str
    query: str  # the rendered query, as explain shows it
    reason: str | None = None  # why it fails or would be held


def changes(
    plan: Plan, records: Sequence[MeasurementRecord], states: Mapping[str, KrState]
) -> list[Change]:
    """One change per measured key result, in the plan's order."""
    by_kr = {r.kr_id: r for r in records}
    order = [(k, q.connection, q.text) for q in plan.queries.values() for k in q.kr_ids]
    order += [(k, "derived", by_kr[k].query or "") for k in plan.derived if k in by_kr]
    found: list[Change] = []
    for kr_id, connection, text in order:
        record = by_kr.get(kr_id)
        state = states.get(kr_id)
        old = state.value if state is not None else None
        if record is None:  # not measured (a run cut short): nothing to compare
            continue
        action: Action
        if record.status == "error":
            action = "error"
        elif record.status == "held":
            action = "held"
        elif old is None:
            action = "new"
        else:
            action = "same" if record.value == old else "change"
        new = None if record.status == "error" else record.value
        found.append(Change(kr_id, action, old, new, connection, text, record.error))
    return found


def states_after(
    states: Mapping[str, KrState], records: Sequence[MeasurementRecord]
) -> dict[str, KrState]:
    """The states a sync storing ``records`` would leave (what ``plan`` pushes from)."""
    after = dict(states)
    for r in records:
        before = after.get(r.kr_id) or KrState(
            r.kr_id, None, None, None, None, None, None, None, None, None, None, None
        )
        now = replace(before, last_attempt_at=r.measured_at, last_status=r.status,
                      connection=r.connection, query=r.query)  # fmt: skip
        if r.status == "ok":
            now = replace(now, value=r.value, measured_at=r.measured_at, held_value=None,
                          held_at=None, held_reason=None, last_error=None,
                          last_error_kind=None)  # fmt: skip
        elif r.status == "held":
            now = replace(now, held_value=r.value, held_at=r.measured_at, held_reason=r.error)
        else:
            now = replace(now, last_error=r.error, last_error_kind=r.error_kind)
        after[r.kr_id] = now
    return after


def counts(found: Sequence[Change]) -> dict[Action, int]:
    """How many of each action, in the order a reader wants them."""
    tally = Counter(c.action for c in found)
    return {action: tally[action] for action in ORDER if tally[action]}


def skipped_counts(plan: Plan) -> dict[str, int]:
    """Why key results are not measured now, each reason once with how many it covers."""
    return dict(Counter(plan.skipped.values()).most_common())


def throttled_groups(plan: Plan) -> dict[str, list[str]]:
    """The key results their quota keeps back (or measures less often), by reason."""
    groups: dict[str, list[str]] = {}
    for kr, throttle in sorted(plan.throttled.items()):
        can = throttle.can_refresh
        why = throttle.reason + (f" (every {format_duration(can)})" if can else "")
        groups.setdefault(why, []).append(kr)
    return groups


__all__ = [
    "ORDER",
    "Action",
    "Change",
    "changes",
    "counts",
    "skipped_counts",
    "states_after",
    "throttled_groups",
]
