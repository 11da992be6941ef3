"""The push stage: each key result's good value into the OKR tools it names, once per change.

A value is pushed only when it differs from the last one that destination
item accepted (kept in the store, :mod:`okrsync.store.pushes`), and only a
good one: never a key result whose last measurement failed, whose value is
held for review, or that is stale. What is due is computed from the store
each time, never queued, so a process killed after the run's write and before
its pushes leaves them due, and the next sync (or ``okrsync push``) sends
each once. A failing destination fails its own pushes only; the measurements
are already stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import cast

import structlog
from aiolimiter import AsyncLimiter

from okrsync.config.loader import Config, KrEntry
from okrsync.domain import progress as pm
from okrsync.domain.records import Accepted, KrState, PushRecord
from okrsync.domain.units import format_value
from okrsync.errors import AuthError, MeasureError
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import Destination, DestinationSettings, PushItem
from okrsync.sdk.redaction import REDACTOR

log = structlog.get_logger("okrsync.publish.push")

WRITE_EVERY = 200  # attempts per store write: a kill re-sends at most this many (idempotent)


@dataclass(frozen=True)
class Pending:
    """A push that is due: a good value its destination item has not accepted yet."""

    destination: str
    item: PushItem
    old: float | None  # what the item last accepted (None: never pushed)
    history: bool = False  # a stored past value (push --history): for dated destinations only


def pending(
    config: Config,
    states: Mapping[str, KrState],
    accepted: Mapping[tuple[str, str], Accepted],
    now: datetime,
    *,
    only: set[str] | None = None,
) -> list[Pending]:
    """Every push that is due now, in the order of the key results."""
    due: list[Pending] = []
    for kr_id, entry in config.krs.items():
        if not entry.kr.push or (only is not None and kr_id not in only):
            continue
        state = states.get(kr_id)
        if not _pushable(entry, state, now):
            continue
        assert state is not None
        assert state.value is not None
        for destination, item in entry.kr.push.items():
            last = accepted.get((destination, item))
            if last is not None and last.value == state.value:
                continue
            due.append(
                Pending(destination, push_item(entry, state, item), last.value if last else None)
            )
    return due


def history(
    config: Config,
    states: Mapping[str, KrState],
    points: Mapping[str, Sequence[tuple[datetime, float]]],
    *,
    only: set[str] | None = None,
) -> list[Pending]:
    """The stored good values as dated pushes, the last of each UTC day, oldest first.

    ``points`` are :meth:`Store.good_values` since the first day wanted. Only
    destinations that keep a value per date take them (:attr:`Destination.dated`).
    """
    due: list[Pending] = []
    for kr_id, entry in config.krs.items():
        state = states.get(kr_id)
        if not entry.kr.push or state is None or (only is not None and kr_id not in only):
            continue
        last_of_day: dict[object, tuple[datetime, float]] = {}
        for at, value in points.get(kr_id, ()):
            last_of_day[at.date()] = (at, value)
        for destination, item in entry.kr.push.items():
            for at, value in last_of_day.values():
                dated = replace(state, value=value, measured_at=at, last_run_id=None)
                due.append(Pending(destination, push_item(entry, dated, item), None, history=True))
    return due


def _pushable(entry: KrEntry, state: KrState | None, now: datetime) -> bool:
    """A good value that still holds: not failing, not held for review, not stale."""
    if state is None or state.value is None or state.measured_at is None:
        return False
    if state.last_status == "error" or state.held_value is not None:
        return False
    return now - state.measured_at <= entry.kr.freshness


def push_item(entry: KrEntry, state: KrState, item: str) -> PushItem:
    """What a destination receives for one key result, with its provenance."""
    kr = entry.kr
    assert state.value is not None
    assert state.measured_at is not None
    return PushItem(
        kr_id=kr.id,
        item=item,
        value=state.value,
        measured_at=state.as_of or state.measured_at,  # the instant it describes (settle)
        comment=provenance(entry, state),
        title=kr.title,
        unit=kr.unit,
        start=kr.start,
        target=kr.target,
        progress=pm.raw_progress(kr, state.value),
        run_id=state.last_run_id,
    )


def provenance(entry: KrEntry, state: KrState) -> str:
    """The comment people read in their tool: where the number came from, and when."""
    assert state.measured_at is not None
    value = format_value(state.value, entry.kr.unit, milestone=entry.kr.kind == "milestone")
    when = f"{state.measured_at:%Y-%m-%d %H:%M} UTC"
    run = f", run {state.last_run_id}" if state.last_run_id is not None else ""
    if state.as_of is not None and state.as_of != state.measured_at:
        when += f" (as of {state.as_of:%Y-%m-%d %H:%M} UTC)"
    if entry.manual:
        return f"okrsync: checked in by hand = {value} at {when}{run}"
    source = f"{state.connection} ({entry.connection_type})" if state.connection else "okrsync"
    if entry.derived is not None:
        source = f"derived `{entry.derived.text}`"
    query = f" `{REDACTOR.redact(state.query)}`" if state.query else ""
    return f"okrsync: {source}{query} = {value} at {when}{run}"


Record = Callable[[Sequence[PushRecord]], None]


async def push(
    config: Config, due: Sequence[Pending], runtime: Runtime, record: Record
) -> list[PushRecord]:
    """Send every due push, destinations side by side, each at its own pace; record them all.

    ``record`` stores a batch of attempts (the store's ``record_pushes``); it
    is called every :data:`WRITE_EVERY` attempts and at the end, so a long
    push that dies loses at most one batch of records (the pushes are
    idempotent: a re-sent value sets the same value again).
    """
    by_destination: dict[str, list[Pending]] = {}
    for p in due:
        by_destination.setdefault(p.destination, []).append(p)
    results = await asyncio.gather(
        *(_one(config, name, jobs, runtime, record) for name, jobs in by_destination.items())
    )
    return [r for part in results for r in part]


async def _one(
    config: Config, name: str, jobs: list[Pending], runtime: Runtime, record: Record
) -> list[PushRecord]:
    done: list[PushRecord] = []
    unwritten: list[PushRecord] = []

    def keep(result: PushRecord) -> None:
        done.append(result)
        unwritten.append(result)
        if len(unwritten) >= WRITE_EVERY:
            record(list(unwritten))
            unwritten.clear()

    settings = config.destinations.get(name)
    try:
        if name in config.unavailable_destinations or settings is None:
            why = config.unavailable_destinations.get(name, "its settings are invalid")
            unset = AuthError(f"not configured: {why}")
            unset.calls = 0  # nothing was sent
            raise unset
        destination = cast(
            Destination, config.publishers[settings.type].open(name, settings, runtime)
        )
    except MeasureError as exc:
        for job in jobs:
            keep(_failed(name, job, exc))
        record(unwritten)
        return done
    if not destination.dated and any(job.history for job in jobs):
        log.warning("keeps no dated values: history not pushed", destination=name)
        jobs = [job for job in jobs if not job.history]
    limiter = _limiter(settings)
    queue = list(reversed(jobs))
    try:

        async def worker() -> None:
            while queue:
                job = queue.pop()
                if limiter is not None:
                    await limiter.acquire()
                keep(await _send(name, destination, job))

        workers = min(getattr(settings, "max_concurrency", 1), len(jobs))
        if any(job.history for job in jobs):
            workers = 1  # dated values in order, oldest first: the newest is the tool's current
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        try:
            await destination.aclose()
        except Exception as exc:  # closing must never lose the records
            log.warning("destination close failed", destination=name, error=str(exc))
        record(unwritten)
    return done


def _limiter(settings: object) -> AsyncLimiter | None:
    rate = settings.rate_limit if isinstance(settings, DestinationSettings) else None
    return AsyncLimiter(rate, 1) if rate else None


async def _send(name: str, destination: Destination, job: Pending) -> PushRecord:
    began = time.perf_counter()
    try:
        receipt = await destination.push(job.item)
    except MeasureError as exc:
        return _failed(name, job, exc)
    except Exception as exc:  # a destination's bug fails its push, never the others
        log.error("destination raised an unexpected error", destination=name, exc_info=exc)
        wrapped = MeasureError(f"{type(exc).__name__}: {exc}")
        return _failed(name, job, wrapped)
    log.debug("pushed", destination=name, item=job.item.item, seconds=time.perf_counter() - began)
    return PushRecord(
        destination=name,
        item=job.item.item,
        kr_id=job.item.kr_id,
        value=job.item.value,
        measured_at=job.item.measured_at,
        attempted_at=datetime.now(UTC),
        outcome="ok",
        run_id=job.item.run_id,
        receipt=REDACTOR.redact(receipt)[:300] if receipt else None,
    )


def _failed(name: str, job: Pending, exc: MeasureError) -> PushRecord:
    return PushRecord(
        destination=name,
        item=job.item.item,
        kr_id=job.item.kr_id,
        value=job.item.value,
        measured_at=job.item.measured_at,
        attempted_at=datetime.now(UTC),
        outcome="error",
        run_id=job.item.run_id,
        error_kind=exc.kind,
        error=REDACTOR.redact(f"destination {name!r}: {exc}"),
        calls=1 if exc.calls is None else exc.calls,
    )


__all__ = ["WRITE_EVERY", "Pending", "history", "pending", "provenance", "push", "push_item"]
