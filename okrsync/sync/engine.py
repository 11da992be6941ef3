"""One sync, top to bottom: plan → measure (concurrently) → assess → one store write.

``make_plan`` picks the due key results and renders their sources; identical
(connection, rendered source) pairs become one query. ``execute`` runs the
queries, each connection behind its own concurrency and rate limit, and never
lets one failure touch another query. ``assess`` turns answers into
measurement records, holding suspicious values for review. ``sync`` ties them
to the store in one transaction.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import structlog
from aiolimiter import AsyncLimiter

from okrsync.config.loader import Config, KrEntry
from okrsync.config.secrets import REDACTOR
from okrsync.domain.model import max_change_allows
from okrsync.domain.records import (
    InitiativeRecord,
    KrState,
    MeasurementRecord,
    RunRecord,
    RunStatus,
)
from okrsync.errors import MeasureError, QueryError
from okrsync.sdk.connector import (
    BatchConnection,
    Connection,
    InitiativeConnection,
    InitiativeReading,
    Reading,
    RenderContext,
    Runtime,
    SourceBase,
)
from okrsync.sdk.placeholders import render_source
from okrsync.store.database import Store

log = structlog.get_logger("okrsync.sync.engine")

# A KR whose refresh is the schedule interval must not be skipped for being a
# few seconds early: it is due once this much of its refresh has passed.
DUE_FRACTION = 0.95


@dataclass
class PlannedQuery:
    connection: str
    source: SourceBase
    text: str
    kr_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, repr=False)
class Plan:
    as_of: datetime
    queries: dict[str, PlannedQuery]  # dedup key → query
    skipped: dict[str, str]  # kr id → why it is not measured now
    initiatives: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # (connection, issue key) → the due key results it stands beside

    @property
    def kr_count(self) -> int:
        return sum(len(q.kr_ids) for q in self.queries.values())

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run formats its task's result once on exit
        # (a SIGINT-handler check), and a 10,000-KR plan's full repr was 9 MB.
        return f"Plan(as_of={self.as_of.isoformat()}, {len(self.queries)} queries)"


@dataclass(frozen=True)
class Outcome:
    reading: Reading | None
    error: MeasureError | None
    duration_ms: float


@dataclass(frozen=True)
class SyncResult:
    run_id: int | None
    plan: Plan
    records: list[MeasurementRecord]
    summary: dict[str, Any]
    initiatives: list[InitiativeRecord] = field(default_factory=list)

    @property
    def failed(self) -> list[MeasurementRecord]:
        return [r for r in self.records if r.status == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def is_due(entry: KrEntry, state: KrState | None, now: datetime) -> bool:
    if state is None or state.last_attempt_at is None:
        return True
    return now - state.last_attempt_at >= entry.kr.refresh * DUE_FRACTION


def make_plan(
    config: Config,
    states: Mapping[str, KrState],
    now: datetime,
    *,
    force: bool = False,
    only: set[str] | None = None,
) -> Plan:
    queries: dict[str, PlannedQuery] = {}
    skipped: dict[str, str] = {}
    initiatives: dict[tuple[str, str], list[str]] = {}
    for kr_id, entry in config.krs.items():
        if only is not None and kr_id not in only:
            continue
        if entry.source is None or entry.connection_type is None:
            skipped[kr_id] = "no source"
            continue
        if not force and not is_due(entry, states.get(kr_id), now):
            skipped[kr_id] = f"not due (refresh {entry.kr.refresh})"
            continue
        for pair in entry.initiatives:
            initiatives.setdefault(pair, []).append(kr_id)
        connector = config.registry[entry.connection_type]
        ctx = RenderContext(cycle=entry.cycle, as_of=now)
        rendered = (
            connector.render(entry.source, ctx)
            if connector.render
            else render_source(entry.source, ctx)
        )
        key = f"{rendered.connection}\0{rendered.model_dump_json()}"
        if key not in queries:
            queries[key] = PlannedQuery(rendered.connection, rendered, connector.describe(rendered))
        queries[key].kr_ids.append(kr_id)
    return Plan(as_of=now, queries=queries, skipped=skipped, initiatives=initiatives)


@dataclass(frozen=True, repr=False)
class Executed:
    outcomes: dict[str, Outcome]  # planned query key → outcome
    initiatives: dict[tuple[str, str], InitiativeReading | MeasureError]

    def __repr__(self) -> str:
        return f"Executed({len(self.outcomes)} outcomes, {len(self.initiatives)} initiatives)"


Job = Callable[[], Awaitable[None]]


async def execute(plan: Plan, config: Config, runtime: Runtime) -> Executed:
    """Run every planned query; a connection that cannot open fails only its own queries.

    Each connection gets ``max_concurrency`` workers that take its jobs one
    after another (a few coroutines, not one per query: a 10,000-KR sync held
    7,000 suspended tasks before). Connections that batch (``measure_batch``)
    get their queries in chunks of ``batch_size``; every job, single query,
    batch or initiative, takes one rate-limit token.
    """
    by_connection: dict[str, list[str]] = {}
    for key, query in plan.queries.items():
        by_connection.setdefault(query.connection, []).append(key)
    initiatives_by_connection: dict[str, list[str]] = {}
    for name, issue in plan.initiatives:
        initiatives_by_connection.setdefault(name, []).append(issue)

    outcomes: dict[str, Outcome] = {}
    initiatives: dict[tuple[str, str], InitiativeReading | MeasureError] = {}
    async with AsyncExitStack() as stack:
        drains = []
        for name in sorted({*by_connection, *initiatives_by_connection}):
            keys = by_connection.get(name, [])
            issues = initiatives_by_connection.get(name, [])
            settings = config.connections[name]
            try:
                connection: Connection = config.registry[settings.type].open(settings, runtime)
            except MeasureError as exc:
                for key in keys:
                    outcomes[key] = Outcome(None, _named(name, exc), 0.0)
                for issue in issues:
                    initiatives[(name, issue)] = _named(name, exc)
                continue
            stack.push_async_callback(_close, name, connection)
            rate = _Rate(settings.rate_limit)
            sources = [(key, plan.queries[key].source) for key in keys]
            size = getattr(connection, "batch_size", 0)
            jobs: list[Job] = []
            if size > 1 and hasattr(connection, "measure_batch"):
                batcher = cast(BatchConnection, connection)
                chunks = [sources[i : i + size] for i in range(0, len(sources), size)]
                jobs += [
                    partial(_measure_batch, name, batcher, chunk, rate, outcomes)
                    for chunk in chunks
                ]
            else:
                jobs += [
                    partial(_measure, name, connection, key, source, rate, outcomes)
                    for key, source in sources
                ]
            jobs += [
                partial(_initiative, name, connection, issue, rate, initiatives) for issue in issues
            ]
            drains.append(_drain(jobs, settings.max_concurrency))
        await asyncio.gather(*drains)
    return Executed(outcomes, initiatives)


async def _drain(jobs: list[Job], workers: int) -> None:
    """Run ``jobs`` with at most ``workers`` of them in flight."""
    queue = iter(jobs)  # shared by the workers: each takes the next job

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(min(workers, len(jobs)))))


class _Rate:
    """A connection's rate limit (requests per second); no limit when None."""

    def __init__(self, rate: float | None) -> None:
        self._limiter = AsyncLimiter(rate, 1) if rate else None

    async def __aenter__(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire()

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _close(name: str, connection: Connection) -> None:
    try:
        await connection.aclose()
    except Exception as exc:  # closing must never lose a run
        log.warning("connection close failed", connection=name, error=str(exc))


async def _measure(
    name: str,
    connection: Connection,
    key: str,
    source: SourceBase,
    rate: _Rate,
    out: dict[str, Outcome],
) -> None:
    async with rate:
        started = time.perf_counter()
        try:
            reading: Reading | MeasureError = await connection.measure(source)
        except Exception as exc:
            reading = _failure(name, exc)
        out[key] = _outcome(reading, started)


async def _measure_batch(
    name: str,
    connection: BatchConnection,
    chunk: list[tuple[str, SourceBase]],
    rate: _Rate,
    out: dict[str, Outcome],
) -> None:
    async with rate:
        started = time.perf_counter()
        try:
            answers = await connection.measure_batch([source for _, source in chunk])
            if len(answers) != len(chunk):
                raise MeasureError(f"batch answered {len(answers)} of {len(chunk)} queries")
            results = [_named(name, r) if isinstance(r, MeasureError) else r for r in answers]
        except Exception as exc:  # the whole batch failed: each of its queries did
            results = [_failure(name, exc)] * len(chunk)
        for (key, _), result in zip(chunk, results, strict=True):
            out[key] = _outcome(result, started)


async def _initiative(
    name: str,
    connection: Connection,
    issue: str,
    rate: _Rate,
    out: dict[tuple[str, str], InitiativeReading | MeasureError],
) -> None:
    if not hasattr(connection, "initiative"):
        out[(name, issue)] = _named(name, QueryError("this connection cannot report initiatives"))
        return
    async with rate:
        try:
            reading = await cast(InitiativeConnection, connection).initiative(issue)
        except Exception as exc:
            out[(name, issue)] = _failure(name, exc)
            return
        out[(name, issue)] = reading


def _failure(name: str, exc: Exception) -> MeasureError:
    if not isinstance(exc, MeasureError):  # a connector bug must not sink the run
        log.error("connector raised an unexpected error", connection=name, exc_info=exc)
        exc = MeasureError(f"unexpected {type(exc).__name__}: {exc}")
    return _named(name, exc)


def _outcome(result: Reading | MeasureError, started: float) -> Outcome:
    elapsed = (time.perf_counter() - started) * 1000
    if isinstance(result, MeasureError):
        return Outcome(None, result, elapsed)
    return Outcome(result, None, elapsed)


def _named(connection: str, exc: MeasureError) -> MeasureError:
    """The same kind of error, its message prefixed with the connection and redacted."""
    message = REDACTOR.redact(f"connection {connection!r}: {exc}")
    named = MeasureError(message)
    named.kind = exc.kind
    return named


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
                "measured_at": plan.as_of,
                "connection": query.connection,
                "query": REDACTOR.redact(query.text),
                "duration_ms": round(outcome.duration_ms, 3),
                "calls": outcome.reading.calls if outcome.reading else 0,
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
            hold = _hold_reason(entry, value, state.value if state else None)
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


def _hold_reason(entry: KrEntry, value: float, last: float | None) -> str | None:
    kr = entry.kr
    if kr.min is not None and value < kr.min:
        return f"held for review: {value:g} is below min {kr.min:g}"
    if kr.max is not None and value > kr.max:
        return f"held for review: {value:g} is above max {kr.max:g}"
    if not max_change_allows(kr, last, value):
        return (
            f"held for review: jump from {last:g} to {value:g} exceeds max_change {kr.max_change}"
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

    Vendor calls and errors per connection count queries and initiatives alike.
    """
    per_connection: dict[str, dict[str, int]] = {}

    def count(name: str, result: Reading | InitiativeReading | MeasureError | None) -> None:
        stats = per_connection.setdefault(name, {"queries": 0, "calls": 0, "errors": 0})
        stats["calls"] += result.calls if isinstance(result, Reading | InitiativeReading) else 0
        stats["errors"] += isinstance(result, MeasureError)

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


async def measure(
    config: Config,
    states: Mapping[str, KrState],
    now: datetime,
    runtime: Runtime,
    *,
    force: bool = False,
    only: set[str] | None = None,
) -> tuple[Plan, Executed, list[MeasurementRecord]]:
    """Plan, execute and assess without writing: what ``plan`` shows and ``sync`` stores."""
    plan = make_plan(config, states, now, force=force, only=only)
    executed = await execute(plan, config, runtime)
    return plan, executed, assess(plan, executed.outcomes, config, states)


def initiative_records(plan: Plan, executed: Executed) -> list[InitiativeRecord]:
    records = []
    for (name, issue), kr_ids in plan.initiatives.items():
        reading = executed.initiatives[(name, issue)]
        for kr_id in kr_ids:
            if isinstance(reading, MeasureError):
                records.append(InitiativeRecord(kr_id, issue, name, plan.as_of, error=str(reading)))
            else:
                records.append(
                    InitiativeRecord(
                        kr_id, issue, name, plan.as_of, title=REDACTOR.redact(reading.title),
                        done=reading.done, total=reading.total, status=reading.status,
                        measured_at=plan.as_of,
                    )
                )  # fmt: skip
    return records


def sync(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    runtime: Runtime | None = None,
    force: bool = False,
    trigger: str = "sync",
) -> SyncResult:
    """Measure what is due as of ``now`` and store it as one run (one transaction).

    ``now`` (default: the wall clock) is what is measured and when refresh
    windows count from; the run's own start and end are always wall-clock.
    """
    started = datetime.now(UTC)
    as_of = now or started
    clock = time.perf_counter()
    states = store.states()
    plan, executed, records = asyncio.run(
        measure(config, states, as_of, runtime or Runtime(), force=force)
    )
    initiatives = initiative_records(plan, executed)
    seconds = time.perf_counter() - clock
    summary = summarize(config, plan, executed, records, seconds)
    errors = summary["errors"]
    status: RunStatus = "ok" if not errors else ("failed" if errors == len(records) else "partial")
    run = RunRecord(
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        status=status,
        trigger=trigger,
        summary=summary,
    )
    run_id = store.record_run(run, records, initiatives)
    result = SyncResult(run_id, plan, records, summary, initiatives)
    log.info("sync finished", run_id=run_id, status=status, exit_code=result.exit_code, **summary)
    return result


__all__ = [
    "Outcome",
    "Plan",
    "PlannedQuery",
    "SyncResult",
    "assess",
    "execute",
    "make_plan",
    "measure",
    "sync",
]
