"""Stage 2, execute: every planned query against its connection, concurrently.

Each connection runs behind its own concurrency and rate limit, and one
failure never touches another query: a connection that cannot open fails
only its own queries, a connector bug becomes that query's error.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import structlog
from aiolimiter import AsyncLimiter

from okrsync.config.loader import Config
from okrsync.errors import AuthError, MeasureError, QueryError, ThrottledError
from okrsync.sdk.connector import (
    BatchConnection,
    Connection,
    InitiativeConnection,
    InitiativeReading,
    Reading,
    Runtime,
    SourceBase,
)
from okrsync.sdk.quota import Cost, LiveQuota, Observation, Window, quota_of
from okrsync.sdk.redaction import REDACTOR
from okrsync.sync.plan import Plan

log = structlog.get_logger("okrsync.sync.execute")


@dataclass(frozen=True)
class Outcome:
    reading: Reading | None
    error: MeasureError | None
    duration_ms: float


@dataclass(frozen=True)
class Reserved:
    """What one pool reserved for this run, per unit: its gate's room (okrsync.sync.budget),
    and its windows shorter than a run may take, which the gate paces instead."""

    pool: str
    taken: dict[str, float]
    paced: tuple[Window, ...] = ()


def pace(window: Window) -> AsyncLimiter:
    """A leaky bucket that never lets more than ``window.limit`` through in any of its
    windows: a tenth of it at once, then 90 % of its rate (a tenth + 90 % = all of it)."""
    burst = max(1.0, window.limit / 10)
    return AsyncLimiter(burst, window.seconds * burst / (0.9 * window.limit))


@dataclass(frozen=True, repr=False)
class Executed:
    outcomes: dict[str, Outcome]  # planned query key → outcome
    initiatives: dict[tuple[str, str], InitiativeReading | MeasureError]
    spent: dict[str, dict[str, float]] = field(default_factory=dict)  # pool → unit → spent
    live: dict[str, tuple[list[Observation], tuple[float, str] | None]] = field(
        default_factory=dict
    )  # pool → what its vendor said of its limits, and a wait it asked for

    def __repr__(self) -> str:
        return f"Executed({len(self.outcomes)} outcomes, {len(self.initiatives)} initiatives)"


Job = Callable[[], Awaitable[None]]


async def execute(
    plan: Plan,
    config: Config,
    runtime: Runtime,
    reserved: Mapping[str, Reserved] | None = None,
) -> Executed:
    """Run every planned query; a connection that cannot open fails only its own queries.

    Each connection gets ``max_concurrency`` workers that take its jobs one
    after another (a few coroutines, not one per query: a 10,000-KR sync held
    7,000 suspended tasks before). Connections that batch (``measure_batch``)
    get their queries in chunks of ``batch_size``; every job, single query,
    batch or initiative, takes one rate-limit token. A connection in a quota
    pool (``reserved``) sends a job only while the room its pool reserved and
    the vendor's own last figures allow it; a job they forbid is a
    :class:`ThrottledError`, never a request.
    """
    gates = {r.pool: Gate(r.taken, r.paced) for r in (reserved or {}).values()}
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
                if name in config.unavailable:  # a secret is not set: only its own queries fail
                    unset = AuthError(f"not configured: {config.unavailable[name]}")
                    unset.calls = 0  # nothing was sent
                    raise unset
                connection: Connection = config.registry[settings.type].open(settings, runtime)
            except MeasureError as exc:
                for key in keys:
                    outcomes[key] = Outcome(None, _named(name, exc), 0.0)
                for issue in issues:
                    initiatives[(name, issue)] = _named(name, exc)
                continue
            stack.push_async_callback(_close, name, connection)
            pool = reserved[name].pool if reserved and name in reserved else quota_of(settings).pool
            gate = gates.setdefault(pool or name, Gate(None))  # no budget: the vendor's word only
            gate.watch(getattr(connection, "live", None))
            rate = _Rate(settings.rate_limit, gate, config.registry[settings.type].cost)
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
    spent = {pool: gate.spent for pool, gate in gates.items()}
    live = {pool: seen for pool, gate in gates.items() if (seen := gate.seen()) != ([], None)}
    return Executed(outcomes, initiatives, spent, live)


async def _drain(jobs: list[Job], workers: int) -> None:
    """Run ``jobs`` with at most ``workers`` of them in flight."""
    queue = iter(jobs)  # shared by the workers: each takes the next job

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(min(workers, len(jobs)))))


class Gate:
    """A pool's room in this run: what its reservation and its vendor's figures still allow."""

    def __init__(self, room: Mapping[str, float] | None, paced: Sequence[Window] = ()) -> None:
        self.room = room or {}
        self.spent: dict[str, float] = {}
        self._lives: list[LiveQuota] = []
        self._paces = [(w.unit, pace(w)) for w in paced]

    async def wait(self, cost: Cost) -> None:
        """Until every short window it paces has room for ``cost``."""
        for unit, limiter in self._paces:
            if need := cost.get(unit, 0.0):
                await limiter.acquire(min(need, limiter.max_rate))

    def watch(self, live: LiveQuota | None) -> None:
        if live is not None:
            self._lives.append(live)

    def refuse(self, cost: Cost) -> str | None:
        """Why ``cost`` may not be spent now; None when it may (and is then counted)."""
        now = time.time()
        for live in self._lives:
            if (block := live.blocked(now)) is not None:
                return f"quota: the vendor asked to wait {block[0] - now:.0f} s ({block[1]})"
            for o in live.observations():
                need = cost.get(o.unit, 0.0)
                if need and o.available(now) - o.margin < need:  # margin: requests in flight
                    return f"quota: the vendor says {o.source}"
        for unit, need in cost.items():
            if self.spent.get(unit, 0.0) + need > self.room.get(unit, math.inf) + 1e-9:
                return (
                    f"quota: this run's room in the budget ({self.room[unit]:,.0f} {unit}) is spent"
                )
        for unit, need in cost.items():
            self.spent[unit] = self.spent.get(unit, 0.0) + need
        for live in self._lives:
            live.sent(cost)
        return None

    def settle(self, estimated: float, calls: int) -> None:
        """Requests beyond the estimate (retries, logins, pages) are spent too.

        Fewer round trips than estimated give nothing back: a Composite Batch is
        one round trip and 25 calls of Salesforce's allowance.
        """
        if calls > estimated:
            self.spent["requests"] = self.spent.get("requests", 0.0) + calls - estimated

    def seen(self) -> tuple[list[Observation], tuple[float, str] | None]:
        seen = [o for live in self._lives for o in live.observations()]
        blocks = [b for live in self._lives if (b := live.blocked()) is not None]
        return seen, max(blocks, default=None)


class _Rate:
    """A connection's rate limit (requests per second; none when None) and quota gate."""

    def __init__(self, rate: float | None, gate: Gate | None, cost: Callable[[Any], Cost]) -> None:
        self._limiter = AsyncLimiter(rate, 1) if rate else None
        self.gate, self.cost = gate, cost

    def refuse(self, sources: Sequence[SourceBase]) -> tuple[str | None, float]:
        """Why the gate refuses these sources' job (None: go), and its requests estimated."""
        if self.gate is None:
            return None, 0.0
        total: dict[str, float] = {}
        for source in sources:
            for unit, c in self.cost(source).items():
                total[unit] = total.get(unit, 0.0) + c
        total = {u: float(math.ceil(c - 1e-9)) for u, c in total.items()}
        return self.gate.refuse(total), total.get("requests", 0.0)

    def settle(self, estimated: float, calls: int) -> None:
        if self.gate is not None:
            self.gate.settle(estimated, calls)

    async def __aenter__(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire()
        if self.gate is not None:  # a job is one request of a short window (PostHog's minute)
            await self.gate.wait({"requests": 1.0})

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
        refused, estimated = rate.refuse([source])
        if refused is not None:
            out[key] = Outcome(None, _named(name, ThrottledError(refused)), 0.0)
            return
        started = time.perf_counter()
        try:
            reading: Reading | MeasureError = await connection.measure(source)
        except Exception as exc:
            reading = _failure(name, exc)
        rate.settle(estimated, spent_calls(reading))
        out[key] = _outcome(reading, started)


async def _measure_batch(
    name: str,
    connection: BatchConnection,
    chunk: list[tuple[str, SourceBase]],
    rate: _Rate,
    out: dict[str, Outcome],
) -> None:
    async with rate:
        refused, estimated = rate.refuse([source for _, source in chunk])
        if refused is not None:
            for key, _ in chunk:
                out[key] = Outcome(None, _named(name, ThrottledError(refused)), 0.0)
            return
        started = time.perf_counter()
        try:
            answers = await connection.measure_batch([source for _, source in chunk])
            if len(answers) != len(chunk):
                raise MeasureError(f"batch answered {len(answers)} of {len(chunk)} queries")
            results = [_named(name, r) if isinstance(r, MeasureError) else r for r in answers]
        except Exception as exc:  # the whole batch failed: each of its queries did
            results = [_failure(name, exc)] * len(chunk)
        rate.settle(estimated, sum(spent_calls(r) for r in results))
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
        # An initiative is one request of the pool's budget too.
        refused = rate.gate.refuse({"requests": 1.0}) if rate.gate is not None else None
        estimated = 1.0 if rate.gate is not None else 0.0
        if refused is not None:
            out[(name, issue)] = _named(name, ThrottledError(refused))
            return
        try:
            reading = await cast(InitiativeConnection, connection).initiative(issue)
        except Exception as exc:
            out[(name, issue)] = _failure(name, exc)
            rate.settle(estimated, spent_calls(out[(name, issue)]))
            return
        rate.settle(estimated, reading.calls)
        out[(name, issue)] = reading


def spent_calls(result: Reading | InitiativeReading | MeasureError | None) -> int:
    """Vendor calls a query cost, failed ones too (an uncounted failure: the one call)."""
    if result is None:
        return 0
    if isinstance(result, MeasureError):
        return 1 if result.calls is None else result.calls
    return result.calls


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
    named.kind, named.calls = exc.kind, exc.calls
    return named


__all__ = ["Executed", "Gate", "Outcome", "Reserved", "execute", "spent_calls"]
