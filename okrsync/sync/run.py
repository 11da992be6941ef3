"""Stage 4, run: plan → execute → assess → store → publish; the whole of a sync.

``sync`` is a coroutine, callable from a running event loop (the dashboard
server will call it); ``asyncio.run`` lives in the CLI only. ``locked_sync``
is the one place the single-writer lock is taken around a sync.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from okrsync.config.loader import Config
from okrsync.domain.records import (
    InitiativeRecord,
    KrState,
    MeasurementRecord,
    PushRecord,
    RunRecord,
    RunStatus,
)
from okrsync.publish import notify
from okrsync.publish.push import pending, push
from okrsync.publish.snapshot import take
from okrsync.publish.stage import configured, publish
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import Published
from okrsync.sdk.quota import Observation
from okrsync.store.database import Store
from okrsync.store.lock import WriterLock
from okrsync.sync.assess import assess, initiative_records, summarize
from okrsync.sync.budget import Ledger, MemoryLedger, StoreLedger, budget, settle
from okrsync.sync.execute import Executed, execute
from okrsync.sync.plan import Plan, make_plan

log = structlog.get_logger("okrsync.sync.run")


@dataclass(frozen=True, repr=False)
class SyncResult:
    run_id: int | None
    plan: Plan
    records: list[MeasurementRecord]
    summary: dict[str, Any]
    initiatives: list[InitiativeRecord] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)
    pushed: list[PushRecord] = field(default_factory=list)

    @property
    def failed(self) -> list[MeasurementRecord]:
        return [r for r in self.records if r.status == "error"]

    @property
    def unpublished(self) -> list[Published]:
        return [p for p in self.published if not p.ok]

    @property
    def unpushed(self) -> list[PushRecord]:
        return [p for p in self.pushed if p.outcome == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.unpublished or self.unpushed else 0

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run formats the sync task's result as it
        # exits, and a full repr of 10,000 records cost 15 MB and 0.1 s.
        return (
            f"SyncResult(run {self.run_id}, {len(self.records)} records, "
            f"{len(self.failed)} failed, {len(self.published)} published, "
            f"{len(self.pushed)} pushed)"
        )


async def measure(
    config: Config,
    states: Mapping[str, KrState],
    now: datetime,
    runtime: Runtime,
    *,
    force: bool = False,
    only: set[str] | None = None,
    frozen: Set[str] = frozenset(),
    ledger: Ledger | None = None,
    live: Mapping[str, Sequence[Observation]] | None = None,
) -> tuple[Plan, Executed, list[MeasurementRecord]]:
    """Plan, budget, execute and assess; nothing is written but the quota spent (``ledger``).

    What ``plan`` shows and ``sync`` stores. The plan returned holds the
    queries that were sent and, in ``throttled``, the key results their
    quota kept back (SPEC §8). Without a ledger, a fresh one in memory.
    """
    ledger = ledger if ledger is not None else MemoryLedger()
    planned = make_plan(config, states, now, force=force, only=only, frozen=frozen)
    budgeted = budget(planned, config, states, ledger, live or {}, force=force)
    executed = await execute(budgeted.plan, config, runtime, budgeted.reserved)
    plan = replace(budgeted.plan, throttled=settle(budgeted, executed, ledger))
    return plan, executed, assess(plan, executed.outcomes, config, states)


async def sync(
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
    The store calls are short and synchronous: one read before, one
    transaction after; the measuring in between is what takes the time.
    """
    started = datetime.now(UTC)
    as_of = now or started
    clock = time.perf_counter()
    states = store.states()
    plan, executed, records = await measure(
        config,
        states,
        as_of,
        runtime or Runtime(),
        force=force,
        frozen=set(store.graded()),
        ledger=StoreLedger(store),
        live=store.quota_live(),
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
    throttled = {
        kr: (t.reason, t.can_refresh.total_seconds() if t.can_refresh else None)
        for kr, t in plan.throttled.items()
    }
    run_id = store.record_run(run, records, initiatives, throttled)
    published: list[Published] = []
    pushed: list[PushRecord] = []
    if config.destinations or config.unavailable_destinations:  # → the OKR tools
        due = pending(config, store.states(), store.accepted(), as_of)
        pushed = await push(config, due, runtime or Runtime(), store.record_pushes)
    if configured(config):  # → publish: the stored run, as every channel receives it
        after = store.states()
        snap = take(config, replace(run, id=run_id), states, after, as_of, store.initiatives())
        published = await publish(config, snap, runtime or Runtime())
    if notify.channels(config):  # → digests and alerts, each claimed once in the store
        published += await notify.notify(config, store, as_of, runtime or Runtime())
    result = SyncResult(run_id, plan, records, summary, initiatives, published, pushed)
    if pushed:
        log.info(
            "pushed",
            run_id=run_id,
            pushes=len(pushed),
            failed=len(result.unpushed),
            destinations=sorted({p.destination for p in pushed}),
        )
    log.info("sync finished", run_id=run_id, status=status, exit_code=result.exit_code, **summary)
    return result


class WriterBusy(Exception):
    """Another process holds the single-writer lock; nothing was measured or written."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"another okrsync holds the writer lock ({holder})")
        self.holder = holder


async def locked_sync(
    config: Config,
    store: Store,
    lock: WriterLock,
    *,
    wait: float = 0.0,
    now: datetime | None = None,
    runtime: Runtime | None = None,
    force: bool = False,
    trigger: str = "sync",
) -> SyncResult:
    """:func:`sync` under the single-writer lock: ``okrsync sync``, ``run`` and ``run --once``.

    Waits up to ``wait`` seconds for the lock, else raises :class:`WriterBusy`.
    Every write transaction checks the lock is still held just before it
    commits (a PostgreSQL session that ended mid-run loses its run whole).
    """
    if not lock.acquire(timeout=wait):
        # The holder may finish between our try and this look: say so, not nothing.
        raise WriterBusy(lock.holder() or "another process, which released it just now")
    try:
        with store.fenced(lock.check):
            return await sync(config, store, now=now, runtime=runtime, force=force, trigger=trigger)
    finally:
        lock.release()


__all__ = ["SyncResult", "WriterBusy", "locked_sync", "measure", "sync"]
