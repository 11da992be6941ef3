"""What a sync would change: each measured key result against what the store holds.

``plan`` reads these the way ``terraform plan`` reads resources: a first
value, a changed value, an unchanged one, one that would be held, one that
fails. Computed here, formatted by the CLI.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from okrsync.domain.records import KrState, MeasurementRecord
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
    found: list[Change] = []
    for query in plan.queries.values():
        for kr_id in query.kr_ids:
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
            found.append(
                Change(kr_id, action, old, new, query.connection, query.text, record.error)
            )
    return found


def counts(found: Sequence[Change]) -> dict[Action, int]:
    """How many of each action, in the order a reader wants them."""
    tally = Counter(c.action for c in found)
    return {action: tally[action] for action in ORDER if tally[action]}


def skipped_counts(plan: Plan) -> dict[str, int]:
    """Why key results are not measured now, each reason once with how many it covers."""
    return dict(Counter(plan.skipped.values()).most_common())


__all__ = ["ORDER", "Action", "Change", "changes", "counts", "skipped_counts"]
