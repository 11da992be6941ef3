"""``okrsync backfill``: measure the past, for the sources that can answer as of a date.

A source can answer for the past when what okrsync sends depends on the
as-of: rendered as of two different instants, its query differs (``{as_of}``
in SQL, JQL, SOQL, an http path or HogQL; a date window ending at the as-of
day; Prometheus' evaluation time). Rendered the same, it can only tell today's
value, and it is listed with that reason, never faked. Each step is planned
and run like a sync (identical queries merged, the connections' concurrency,
rate limits and retries), and its values are stored as ``backfilled`` at the
instant they describe; points already stored are skipped, so running it twice
stores nothing twice. Key results of graded cycles are never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from okrsync.config.loader import Config, KrEntry
from okrsync.domain.records import MeasurementRecord, RunRecord, RunStatus
from okrsync.sdk.connector import RenderContext, Runtime, SourceBase
from okrsync.sdk.placeholders import render_source
from okrsync.store.database import Store
from okrsync.sync.assess import assess, summarize
from okrsync.sync.budget import StoreLedger, budget, settle
from okrsync.sync.execute import execute
from okrsync.sync.plan import Plan, PlannedQuery, add_kr

PROBE = timedelta(days=3)  # how far apart the two renders that tell "depends on the as-of" are


@dataclass
class Backfill:
    """What a backfill would do: per step its plan, and the key results it cannot answer for."""

    steps: list[tuple[datetime, Plan]] = field(default_factory=list)
    cannot: dict[str, str] = field(default_factory=dict)  # kr id → why it has no past
    stored: int = 0  # points already stored, skipped
    waiting: dict[str, str] = field(default_factory=dict)  # kr id → why points wait for quota

    @property
    def queries(self) -> int:
        return sum(len(p.queries) for _, p in self.steps)

    def per_connection(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, plan in self.steps:
            for q in plan.queries.values():
                counts[q.connection] = counts.get(q.connection, 0) + 1
        return counts


def _rendered(config: Config, connection_type: str, source: SourceBase, ctx: RenderContext) -> str:
    connector = config.registry[connection_type]
    rendered = connector.render(source, ctx) if connector.render else render_source(source, ctx)
    return rendered.model_dump_json()


def past_reason(config: Config, entry: KrEntry) -> str | None:
    """Why this key result cannot be measured for the past (None: it can)."""
    if entry.manual:
        return "manual: its values are checked in, there is no source to ask"
    sources: list[tuple[str, SourceBase]] = []
    if entry.derived is not None:
        sources = [(i.connection_type, i.source) for i in entry.derived.inputs.values()]
    elif entry.source is not None and entry.connection_type is not None:
        sources = [(entry.connection_type, entry.source)]
    else:
        return "no source"
    cycle = entry.cycle
    early = RenderContext(cycle=cycle, as_of=cycle.start_at + timedelta(days=1))
    late = RenderContext(cycle=cycle, as_of=cycle.start_at + timedelta(days=1) + PROBE)
    for ctype, source in sources:
        if _rendered(config, ctype, source, early) == _rendered(config, ctype, source, late):
            return (
                f"its {ctype} query does not depend on the as-of date (no {{as_of}}, no date "
                "window ending at it): a past value would be today's"
            )
    return None


def steps_between(since: datetime, until: datetime, step: timedelta) -> list[datetime]:
    out, at = [], since
    while at <= until:
        out.append(at)
        at += step
    return out


def make(
    config: Config,
    since: datetime,
    until: datetime,
    step: timedelta,
    *,
    now: datetime,
    only: Set[str] | None = None,
    frozen: Set[str] = frozenset(),
    existing: Set[tuple[str, datetime]] = frozenset(),
) -> Backfill:
    """The steps from ``since`` to ``until`` (none after ``now``), each a plan like a sync's."""
    found = Backfill()
    able: dict[str, KrEntry] = {}
    for kr_id, entry in config.krs.items():
        if only is not None and kr_id not in only:
            continue
        if entry.cycle.name in frozen:
            found.cannot[kr_id] = f"cycle {entry.cycle.name} is graded: its values are frozen"
        elif (why := past_reason(config, entry)) is not None:
            found.cannot[kr_id] = why
        else:
            able[kr_id] = entry
    for at in steps_between(since, min(until, now), step):
        queries: dict[str, PlannedQuery] = {}
        as_of: dict[str, datetime] = {}
        derived: dict[str, dict[str, str]] = {}
        for kr_id, entry in able.items():
            cycle = entry.cycle
            if not cycle.start_at <= at < cycle.end_at:
                continue
            if (kr_id, at) in existing:
                found.stored += 1
                continue
            as_of[kr_id] = at
            add_kr(queries, derived, config, kr_id, entry, RenderContext(cycle=cycle, as_of=at))
        if as_of:
            found.steps.append((at, Plan(at, queries, {}, {}, as_of, derived)))
    return found


async def run(
    config: Config,
    store: Store,
    plan: Backfill,
    runtime: Runtime,
    *,
    progress: Callable[[datetime, int], None] | None = None,
) -> list[MeasurementRecord]:
    """Measure every step and store its points as one backfill run per step."""
    stored: list[MeasurementRecord] = []
    ledger = StoreLedger(store)
    for at, planned in plan.steps:
        started = datetime.now(UTC)
        # A backfill spends today's quota like a sync: what does not fit is left for the next.
        budgeted = budget(
            planned, config, {}, ledger, store.quota_live(), force=True, clock=time.time()
        )
        executed = await execute(budgeted.plan, config, runtime, budgeted.reserved)
        step = replace(budgeted.plan, throttled=settle(budgeted, executed, ledger))
        # Past values are not compared with today's: min/max still hold them, max_change not.
        records = [replace(r, backfilled=True) for r in assess(step, executed.outcomes, config, {})]
        measured = {r.kr_id for r in records}  # a stretched one that was measured waits for nothing
        plan.waiting.update({k: t.reason for k, t in step.throttled.items() if k not in measured})
        summary = summarize(config, step, executed, records, 0.0)
        summary["as_of"] = at.isoformat()
        status: RunStatus = "ok" if not summary["errors"] else "partial"
        finished = datetime.now(UTC)
        store.record_backfill(RunRecord(started, finished, status, "backfill", summary), records)
        stored += records
        if progress is not None:
            progress(at, len(records))
    return stored


def existing_points(
    store: Store, krs: Mapping[str, KrEntry], since: datetime
) -> set[tuple[str, datetime]]:
    """(kr, as-of) of every value already backfilled since ``since`` (failed ones are retried)."""
    return store.described_at(list(krs), since)


__all__ = ["PROBE", "Backfill", "existing_points", "make", "past_reason", "run", "steps_between"]
