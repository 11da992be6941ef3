"""Stage 1, plan: which key results are due, their sources rendered, identical queries merged.

Identical (connection, rendered source) pairs become one query, so ten key
results counting the same JQL cost one vendor call.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from okrsync.config.loader import Config, KrEntry
from okrsync.domain.records import KrState
from okrsync.domain.units import format_duration
from okrsync.sdk.connector import RenderContext, SourceBase
from okrsync.sdk.placeholders import render_source

# A KR whose refresh is the schedule interval must not be skipped for being a
# few seconds early: it is due once this much of its refresh has passed.
DUE_FRACTION = 0.95


@dataclass
class PlannedQuery:
    connection: str
    source: SourceBase
    text: str
    kr_ids: list[str] = field(default_factory=list)  # key results that take its value as theirs
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (derived kr, input name)


@dataclass(frozen=True)
class Throttle:
    """Why a key result is not measured (or not as often as asked), and the refresh it can get."""

    reason: str
    can_refresh: timedelta | None = None


@dataclass(frozen=True, repr=False)
class Plan:
    now: datetime
    queries: dict[str, PlannedQuery]  # dedup key → query
    skipped: dict[str, str]  # kr id → why it is not measured now
    initiatives: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # (connection, issue key) → the due key results it stands beside
    as_of: dict[str, datetime] = field(default_factory=dict)
    # kr id → the instant its value describes, where it is not ``now`` (settle, a past cycle)
    derived: dict[str, dict[str, str]] = field(default_factory=dict)
    # derived kr id → input name → the dedup key of the query that answers it
    throttled: dict[str, Throttle] = field(default_factory=dict)
    # kr id → why its quota keeps it from being measured as asked (okrsync.sync.budget)

    @property
    def kr_count(self) -> int:
        return sum(len(q.kr_ids) for q in self.queries.values()) + len(self.derived)

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run formats its task's result once on exit
        # (a SIGINT-handler check), and a 10,000-KR plan's full repr was 9 MB.
        return f"Plan(now={self.now.isoformat()}, {len(self.queries)} queries)"


def is_due(entry: KrEntry, state: KrState | None, now: datetime) -> bool:
    if state is None or state.last_attempt_at is None:
        return True
    return now - state.last_attempt_at >= entry.kr.refresh * DUE_FRACTION


def has_final_value(entry: KrEntry, state: KrState | None, now: datetime) -> bool:
    """Its cycle is over and its good value is as of the end (measured after it, settled)."""
    end = entry.cycle.end_at
    described = (state.as_of or state.measured_at) if state is not None else None
    return now >= end and described is not None and described >= end - timedelta(seconds=1)


def make_plan(
    config: Config,
    states: Mapping[str, KrState],
    now: datetime,
    *,
    force: bool = False,
    only: set[str] | None = None,
    frozen: Set[str] = frozenset(),
) -> Plan:
    """What is due now; key results of ``frozen`` (graded) cycles never are, even with force."""
    queries: dict[str, PlannedQuery] = {}
    skipped: dict[str, str] = {}
    initiatives: dict[tuple[str, str], list[str]] = {}
    as_of: dict[str, datetime] = {}
    derived: dict[str, dict[str, str]] = {}
    for kr_id, entry in config.krs.items():
        if only is not None and kr_id not in only:
            continue
        if entry.cycle.name in frozen:
            skipped[kr_id] = f"cycle {entry.cycle.name} is graded: its values are frozen"
            continue
        if entry.manual:
            skipped[kr_id] = "manual: recorded with okrsync checkin"
            continue
        if entry.derived is None and (entry.source is None or entry.connection_type is None):
            skipped[kr_id] = "no source"
            continue
        state = states.get(kr_id)
        if not force and has_final_value(entry, state, now):
            skipped[kr_id] = f"cycle {entry.cycle.name} is over and its final value is measured"
            continue
        if not force and not is_due(entry, state, now):
            skipped[kr_id] = f"not due (refresh {format_duration(entry.kr.refresh)})"
            continue
        for pair in entry.initiatives:
            initiatives.setdefault(pair, []).append(kr_id)
        settle = entry.kr.settle
        described = entry.cycle.as_of(now - settle if settle is not None else now)
        if settle is not None:
            as_of[kr_id] = described
        ctx = RenderContext(cycle=entry.cycle, as_of=described)
        add_kr(queries, derived, config, kr_id, entry, ctx)
    return Plan(now, queries, skipped, initiatives, as_of, derived)


def add_kr(
    queries: dict[str, PlannedQuery],
    derived: dict[str, dict[str, str]],
    config: Config,
    kr_id: str,
    entry: KrEntry,
    ctx: RenderContext,
) -> None:
    """Plan one key result as of ``ctx``: its query, or each input of a derived one."""
    if entry.derived is not None:  # each input a query, merged with identical ones
        keys = {}
        for name, given in entry.derived.inputs.items():
            keys[name] = add_query(queries, config, given.connection_type, given.source, ctx)
            queries[keys[name]].inputs.append((kr_id, name))
        derived[kr_id] = keys
        return
    assert entry.source is not None
    assert entry.connection_type is not None
    key = add_query(queries, config, entry.connection_type, entry.source, ctx)
    queries[key].kr_ids.append(kr_id)


def add_query(
    queries: dict[str, PlannedQuery],
    config: Config,
    connection_type: str,
    source: SourceBase,
    ctx: RenderContext,
) -> str:
    """Render ``source``; the key of its query, added unless an identical one is planned."""
    connector = config.registry[connection_type]
    rendered = connector.render(source, ctx) if connector.render else render_source(source, ctx)
    key = f"{rendered.connection}\0{rendered.model_dump_json()}"
    if key not in queries:
        queries[key] = PlannedQuery(rendered.connection, rendered, connector.describe(rendered))
    return key


__all__ = [
    "DUE_FRACTION",
    "Plan",
    "PlannedQuery",
    "Throttle",
    "add_kr",
    "add_query",
    "has_final_value",
    "is_due",
    "make_plan",
]
