"""Stage 1½, budget: the due queries that fit each vendor's quota; the rest wait, ``throttled``.

Between plan and execute (SPEC §8). Each connection with a quota belongs to a
pool (its name, or ``quota.pool``) whose windows come from the connector's
documented defaults, the vendor's live figures and ``quota:`` settings. Two
rules spend it:

- **Stretch.** When the pool's key results ask for more than its tightest
  window sustains, every refresh shorter than a common interval T* is
  stretched to T*, chosen so the stretched demand fits 95 % of it. That is
  the schedule with the least mean staleness under the budget (equal
  intervals for everyone the budget limits: ``best_interval``). Such a pool
  is *paced*: 95 % of its tightest window's rate is earned as time passes
  (``paced``), so a daily allowance lasts the day instead of being spent by
  breakfast, and a run spends what the time since the last one earned,
  whatever the schedule. Key results whose refresh was stretched show
  ``throttled`` and T*.
- **Fit.** The due queries, stalest first, are admitted while every window's
  ledger (what every okrsync process spent in it, from the store), the pacing
  and the vendor's own last figures have room; the admitted cost is reserved
  at once, under a lock, so two processes never spend the same room. A
  window shorter than ``SPREAD`` (PostHog's minute) admits five minutes'
  worth, which the gate in :mod:`okrsync.sync.execute` paces as the run goes.

Nothing here sends a request; :mod:`okrsync.sync.execute` keeps to the room
reserved, and settles the reservation with what was really spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from okrsync.config.loader import Config, KrEntry
from okrsync.domain.records import KrState
from okrsync.domain.units import format_about, format_duration
from okrsync.sdk.connector import ConnectionSettings, Connector
from okrsync.sdk.quota import (
    Cost,
    Observation,
    Pacing,
    Spent,
    Window,
    advanced,
    credit,
    quota_of,
    span,
)
from okrsync.store.database import Store
from okrsync.sync.execute import Executed, Reserved
from okrsync.sync.plan import Plan, PlannedQuery, Throttle

HEADROOM = 0.95  # stretched demand fills at most this share of the sustained budget
SPREAD = 300.0  # seconds: a run may spread a shorter window's spend over this long, paced
PACED = "quota: not its turn"  # how a refusal by one begins


@dataclass(frozen=True)
class Pool:
    """One budget: the windows its connections spend together."""

    name: str
    connections: tuple[str, ...]
    windows: tuple[Window, ...]
    pacing: Pacing = field(default_factory=dict)  # unit → (rate, span): set by paced()

    def capacity(self, unit: str) -> float:
        """Units a second the tightest window of ``unit`` sustains; inf when none limits it."""
        rates = [w.limit / w.seconds for w in self.windows if w.unit == unit]
        return min(rates) if rates else math.inf

    def tightest(self, unit: str) -> Window | None:
        limited = [w for w in self.windows if w.unit == unit]
        return min(limited, key=lambda w: w.limit / w.seconds) if limited else None


Decide = Callable[[Spent], Mapping[str, float]]


class Ledger(Protocol):
    """Where spend is kept: the store (shared by processes), or memory (bench, no store)."""

    def reserve(
        self,
        pool: str,
        windows: Sequence[Window],
        now: float,
        decide: Decide,
        pacing: Pacing | None = None,
    ) -> None:
        """Call ``decide`` with the pool's state and record what it returns, atomically
        (and move each ``pacing`` unit's time on by it)."""

    def spend(self, pool: str, now: float, units: Mapping[str, float]) -> None:
        """Add (or, negative, give back) units spent at ``now``."""

    def observe(
        self, pool: str, live: Sequence[Observation], blocked: tuple[float, str] | None
    ) -> None:
        """Keep what the vendor last said of its limits."""


@dataclass(frozen=True, repr=False)
class Budgeted:
    plan: Plan  # the admitted queries only; plan.throttled: kr id → why it waits
    reserved: dict[str, Reserved]  # connection → its pool's reservation
    clock: float = 0.0  # the ledger's time (epoch s): the plan's now, but a backfill's is past

    def __repr__(self) -> str:
        return f"Budgeted({len(self.plan.queries)} queries, {len(self.plan.throttled)} throttled)"


def pools(config: Config, live: Mapping[str, Sequence[Observation]]) -> dict[str, Pool]:
    """Every pool with a window, from the connections that name it."""
    members: dict[str, list[str]] = {}
    for name, settings in config.connections.items():
        quota = quota_of(settings)
        if quota.enabled:
            members.setdefault(quota.pool or name, []).append(name)
    out = {}
    for pool, names in members.items():
        first = config.connections[names[0]]
        defaults = config.registry[first.type].quota(first)
        windows = quota_of(first).windows(vendor_figures(defaults, live.get(pool, ())))
        if windows or pool in live:  # no documented limit, but the vendor has said one
            out[pool] = Pool(pool, tuple(names), windows)
    return out


def vendor_figures(defaults: tuple[Window, ...], live: Iterable[Observation]) -> tuple[Window, ...]:
    """The documented defaults, each replaced by the limit the vendor itself reported for it."""
    said = {(o.seconds, o.unit): o for o in live if o.seconds > 0}
    out = []
    for w in defaults:
        o = said.get((w.seconds, w.unit))
        out.append(w if o is None else Window(o.limit, w.seconds, w.unit, o.source))
    return tuple(out)


def pool_of(settings: ConnectionSettings, name: str) -> str:
    return quota_of(settings).pool or name


def best_interval(demand: Iterable[tuple[float, float]], capacity: float) -> float:
    """T*: the interval every refresh shorter than it is stretched to, so demand fits.

    ``demand`` is (cost, refresh seconds) per query; ``capacity`` units a
    second. Minimising the mean age Σ Tᵢ/2 subject to Σ cᵢ/Tᵢ ≤ C and
    Tᵢ ≥ rᵢ gives Tᵢ = max(rᵢ, T*) (water-filling); 0 when all fit as asked.
    """
    items = sorted((r, c) for c, r in demand if c > 0)
    if not items or sum(c / r for r, c in items) <= capacity:
        return 0.0
    # With the k shortest stretched: Σ_{i<k} c/T + Σ_{i≥k} c/r = C → T; valid if T ≥ r_{k-1}.
    tail = sum(c / r for r, c in items)
    head = 0.0
    for k, (r, c) in enumerate(items):
        head += c
        tail -= c / r
        if capacity > tail:
            t = head / (capacity - tail)
            nxt = items[k + 1][0] if k + 1 < len(items) else math.inf
            if t <= nxt:
                return max(t, r)
    return math.inf


def demand_of(
    config: Config, pool: Pool, unit: str, over: Set[str] = frozenset()
) -> list[tuple[float, float]]:
    """(cost, shortest refresh) of each distinct query of the pool's key results.

    Key results of the cycles ``over`` (ended, graded or not) ask for nothing.
    """
    queries: dict[tuple[str, str], tuple[float, float]] = {}
    members = set(pool.connections)
    for entry in config.krs.values():
        if entry.cycle.name in over:
            continue
        for connection_type, source in _sources(entry):
            if source.connection not in members:
                continue
            key = (source.connection, source.model_dump_json())
            cost = config.registry[connection_type].cost(source).get(unit, 0.0)
            refresh = entry.kr.refresh.total_seconds()
            known = queries.get(key)
            queries[key] = (cost, refresh if known is None else min(known[1], refresh))
    return list(queries.values())


_STRETCH: dict[tuple[str, str], dict[str, float]] = {}


def ended(config: Config, now: datetime) -> frozenset[str]:
    """The cycles over by ``now``: a few distinct ones, however many objectives."""
    cycles = {c.name: c for c in config.cycles.values()}
    return frozenset(name for name, c in cycles.items() if c.is_over(now))


def stretch(config: Config, pool: Pool, over: Set[str] = frozenset()) -> dict[str, float]:
    """T* per unit of the pool (0: no stretch), once per configuration and ended cycles."""
    key = (
        config.fingerprint or str(id(config)),
        pool.name + repr(pool.windows) + repr(sorted(over)),
    )
    if key not in _STRETCH:
        out: dict[str, float] = {}
        for unit in {w.unit for w in pool.windows}:
            capacity = pool.capacity(unit) * HEADROOM
            out[unit] = best_interval(demand_of(config, pool, unit, over), capacity)
        if len(_STRETCH) > 64:
            _STRETCH.clear()
        _STRETCH[key] = out
    return _STRETCH[key]


def budget(
    plan: Plan,
    config: Config,
    states: Mapping[str, KrState],
    ledger: Ledger,
    live: Mapping[str, Sequence[Observation]],
    *,
    force: bool = False,
    clock: float | None = None,
) -> Budgeted:
    """The plan's queries that fit their pools; the others' key results throttled.

    ``force`` (``sync --force``, backfill) measures what is not due yet, but never
    past a budget. ``clock`` is when the spend happens (default: the plan's now).
    """
    clock = plan.now.timestamp() if clock is None else clock
    by_pool = pools(config, live)
    if not by_pool:
        return Budgeted(plan, {}, clock)
    member = {c: p for p in by_pool.values() for c in p.connections}
    over = ended(config, plan.now)
    t_stars = {name: stretch(config, pool, over) for name, pool in by_pool.items()}
    kept: dict[str, PlannedQuery] = {}
    waiting: dict[str, list[tuple[str, PlannedQuery]]] = {}
    throttled: dict[str, Throttle] = {}
    for key, query in plan.queries.items():
        pool = member.get(query.connection)
        if pool is None:
            kept[key] = query
            continue
        late = _stretched(config, pool, t_stars[pool.name], query)
        if late is not None:  # its refresh cannot fit: throttled, its turn every T* or so
            for kr in _krs(query):
                if config.krs[kr].cycle.name not in over:  # a final value clears it
                    throttled[kr] = late
        waiting.setdefault(pool.name, []).append((key, query))
    reserved: dict[str, Reserved] = {}
    now = clock
    for connection, _ in plan.initiatives:  # initiatives alone spend the budget too
        if (issue_pool := member.get(connection)) is not None:
            waiting.setdefault(issue_pool.name, [])
    for name, queries in waiting.items():
        pool = paced(config, by_pool[name], over)
        queries.sort(key=lambda kq: _staleness(kq[1], states, plan.now), reverse=True)
        fixed = sum(1.0 for c, _ in plan.initiatives if c in pool.connections)
        admitted, refused, taken = _fit(pool, queries, config, ledger, now, fixed)
        kept.update(admitted)
        for kr, why in refused.items():
            stretched = throttled.get(kr)
            if stretched is not None and why.reason.startswith(PACED):
                continue  # not its turn: the stretched reason says it all
            throttled[kr] = replace(why, can_refresh=stretched.can_refresh if stretched else None)
        short = tuple(w for w in pool.windows if w.seconds < SPREAD)
        for connection in pool.connections:
            reserved[connection] = Reserved(name, taken, short)
    derived = {}
    for kr, keys in plan.derived.items():
        if all(k in kept for k in keys.values()):
            derived[kr] = keys
        else:  # an input waits: so does the key result it feeds
            throttled.setdefault(kr, Throttle("quota: an input's connection is out of budget"))
    for q in kept.values():  # inputs of a waiting derived result are not measured for it
        q.inputs[:] = [(kr, n) for kr, n in q.inputs if kr in derived]
    kept = {k: q for k, q in kept.items() if q.kr_ids or q.inputs}
    planned = replace(plan, queries=kept, derived=derived, throttled=throttled)
    return Budgeted(planned, reserved, clock)


def settle(budgeted: Budgeted, executed: Executed, ledger: Ledger) -> dict[str, Throttle]:
    """Give back what was reserved and not spent (or add what retries spent beyond it), keep
    what the vendors said, and add the key results the run's gates held back to the throttled."""
    now = budgeted.clock
    for pool in {r.pool: r for r in budgeted.reserved.values()}.values():
        spent = executed.spent.get(pool.pool, {})
        delta = {u: spent.get(u, 0.0) - pool.taken.get(u, 0.0) for u in {*spent, *pool.taken}}
        if any(abs(d) > 1e-9 for d in delta.values()):
            ledger.spend(pool.pool, now, delta)
    for name, (seen, blocked) in executed.live.items():  # budgeted or not: the vendor spoke
        ledger.observe(name, seen, blocked)
    throttled = dict(budgeted.plan.throttled)
    plan = budgeted.plan
    for key, outcome in executed.outcomes.items():
        if outcome.error is not None and outcome.error.kind == "throttled":
            for kr in _krs(plan.queries[key]):
                known = throttled.get(kr)
                refresh = known.can_refresh if known else None
                throttled[kr] = Throttle(str(outcome.error), refresh)
    for kr, keys in plan.derived.items():
        if kr not in throttled and any(
            (e := executed.outcomes[k].error) is not None and e.kind == "throttled"
            for k in keys.values()
        ):
            throttled[kr] = Throttle("quota: an input's connection is out of budget")
    return throttled


def _sources(entry: KrEntry) -> list[tuple[str, Any]]:
    if entry.derived is not None:
        return [(i.connection_type, i.source) for i in entry.derived.inputs.values()]
    if entry.source is not None and entry.connection_type is not None:
        return [(entry.connection_type, entry.source)]
    return []


def _krs(query: PlannedQuery) -> list[str]:
    return [*query.kr_ids, *(kr for kr, _ in query.inputs)]


def _staleness(query: PlannedQuery, states: Mapping[str, KrState], now: datetime) -> float:
    """Seconds since its stalest key result's last good value; never measured: infinite."""
    worst = 0.0
    for kr in _krs(query):
        state = states.get(kr)
        if state is None or state.measured_at is None:
            return math.inf
        worst = max(worst, (now - state.measured_at).total_seconds())
    return worst


def _stretched(
    config: Config, pool: Pool, t_stars: Mapping[str, float], query: PlannedQuery
) -> Throttle | None:
    """The throttle of a query whose key results ask a refresh shorter than the pool's T*."""
    unit, t_star = max(t_stars.items(), key=lambda ut: ut[1], default=("", 0.0))
    if t_star <= 0:
        return None
    asked = min(config.krs[kr].kr.refresh.total_seconds() for kr in _krs(query))
    if asked >= t_star:
        return None
    return Throttle(stretched_reason(pool, unit, t_star), timedelta(seconds=t_star))


def paced(config: Config, pool: Pool, over: Set[str] = frozenset()) -> Pool:
    """The pool with a pacing per stretched unit: 95 % of what its tightest window sustains,
    earned as time passes, at most a T*'s (or the tightest window's) worth at once.

    Stalest first inside it, every query gets its turn about every T* whatever the
    schedule's interval (a run spends what the time since the last earned), and a daily
    allowance lasts the day.
    """
    pacing = {}
    for unit, t_star in sorted(stretch(config, pool, over).items()):
        tightest = pool.tightest(unit)
        if 0 < t_star < math.inf and tightest is not None:
            # At most a T*'s worth at once, and never more than 95 % of the tightest window,
            # but always room for one query: a budget below one is one now and then.
            rate = HEADROOM * pool.capacity(unit)
            pacing[unit] = (rate, max(min(t_star, tightest.seconds), 1.0 / rate))
    return replace(pool, pacing=pacing) if pacing else pool


def stretched_reason(pool: Pool, unit: str, t_star: float) -> str:
    window = pool.tightest(unit)
    shown = window.describe() if window else unit
    origin = f" ({window.source})" if window and window.source else ""
    return (
        f"quota: pool {pool.name}'s key results ask for more than {shown}{origin}; "
        f"each can refresh every {format_about(t_star)}"
    )


def _fit(
    pool: Pool,
    queries: list[tuple[str, PlannedQuery]],
    config: Config,
    ledger: Ledger,
    now: float,
    fixed: float = 0.0,
) -> tuple[dict[str, PlannedQuery], dict[str, Throttle], dict[str, float]]:
    """Admit stalest first while every window has room; reserve what was admitted.

    Fractional costs (25 SOQL queries to a batch) add up per connection and are
    rounded up there, so a part-filled last batch is a whole request.
    """
    admitted: dict[str, PlannedQuery] = {}
    refused: dict[str, Throttle] = {}
    taken: dict[str, float] = {}

    def decide(spent: Spent) -> Mapping[str, float]:
        admitted.clear()
        refused.clear()
        room, why = _room(pool, spent, now)
        sums: dict[tuple[str, str], float] = {}  # (connection, unit) → cost so far
        if fixed:  # initiatives beside the key results: a request each, first, as many as fit
            sums[("\0initiatives", "requests")] = min(
                fixed, math.floor(room.get("requests", fixed))
            )

        def total(unit: str, extra: tuple[str, float] | None = None) -> float:
            out = 0.0
            for (c, u), v in sums.items():
                if u == unit:
                    out += math.ceil(v + (extra[1] if extra and extra[0] == c else 0.0) - 1e-9)
            if extra is not None and (extra[0], unit) not in sums:
                out += math.ceil(extra[1] - 1e-9)
            return out

        for key, query in queries:
            cost = _cost(config, query)
            short = [
                u
                for u, c in cost.items()
                if total(u, (query.connection, c)) > room.get(u, math.inf) + 1e-9
            ]
            if short:
                for kr in _krs(query):
                    refused[kr] = Throttle(why[short[0]])
                continue
            for u, c in cost.items():
                sums[(query.connection, u)] = sums.get((query.connection, u), 0.0) + c
            admitted[key] = query
        taken.clear()
        taken.update({u: total(u) for u in {u for _, u in sums}})
        return taken

    ledger.reserve(pool.name, pool.windows, now, decide, pool.pacing)
    return admitted, refused, dict(taken)


def _cost(config: Config, query: PlannedQuery) -> Cost:
    settings = config.connections[query.connection]
    connector: Connector = config.registry[settings.type]
    return connector.cost(query.source)


def _room(pool: Pool, spent: Spent, now: float) -> tuple[dict[str, float], dict[str, str]]:
    """Units left per unit of the pool, the tightest of its windows and the vendor's figures."""
    room: dict[str, float] = {}
    why: dict[str, str] = {}

    def limit(unit: str, left: float, reason: str) -> None:
        if left < room.get(unit, math.inf):
            room[unit] = max(0.0, left)
            why[unit] = reason

    if spent.blocked is not None and spent.blocked[0] > now:
        until, said = spent.blocked
        wait = format_duration(timedelta(seconds=max(1.0, until - now)))
        for unit in {"requests", *(w.unit for w in pool.windows)}:
            limit(unit, 0.0, f"quota: the vendor asked to wait {wait} more ({said})")
        return room, why
    for paced_unit, (rate, length) in pool.pacing.items():
        earned = credit(spent.pace.get(paced_unit, 0.0), now, rate, length)
        limit(
            paced_unit, earned, f"{PACED}: pool {pool.name} spreads its budget, the stalest first"
        )
    for w in pool.windows:
        used = spent.used.get((w.seconds, w.unit), 0.0)
        origin = f" ({w.source})" if w.source else ""
        # A window shorter than SPREAD is paced by the gate as the run goes (240 a minute:
        # 1,200 over five minutes), not spent at one instant.
        runs = SPREAD / w.seconds if w.seconds < SPREAD else 1.0
        limit(
            w.unit,
            w.limit * runs - used,
            f"quota: pool {pool.name} may spend {w.describe()}{origin}, "
            f"{used:,.0f} spent in the last {span_of(w.seconds)}; the stalest went first",
        )
    for o in spent.live:
        limit(o.unit, o.available(now) - o.margin, f"quota: the vendor says {o.source}")
    return room, why


def span_of(seconds: float) -> str:
    return span(seconds).removeprefix("a ").removeprefix("an ").removeprefix("per ")


class MemoryLedger:
    """A ledger in memory: for one process without a store, and for bench/quota.py's clock."""

    def __init__(self) -> None:
        self._spend: dict[str, list[tuple[float, str, float]]] = {}
        self._live: dict[str, list[Observation]] = {}
        self._blocked: dict[str, tuple[float, str]] = {}
        self._longest: dict[str, float] = {}
        self._pace: dict[str, dict[str, float]] = {}

    def state(self, pool: str, windows: Sequence[Window], now: float) -> Spent:
        events = self._spend.get(pool, [])
        longest = max((w.seconds for w in windows), default=0.0)
        self._longest[pool] = max(self._longest.get(pool, 0.0), longest)
        if events and events[0][0] <= now - self._longest[pool]:
            events[:] = [e for e in events if e[0] > now - self._longest[pool]]
        used: dict[tuple[float, str], float] = {}
        for w in windows:
            used[(w.seconds, w.unit)] = sum(
                a for at, u, a in events if u == w.unit and at > now - w.seconds
            )
        pace = dict(self._pace.get(pool, {}))
        return Spent(used, self._live.get(pool, []), self._blocked.get(pool), pace)

    def reserve(
        self,
        pool: str,
        windows: Sequence[Window],
        now: float,
        decide: Decide,
        pacing: Pacing | None = None,
    ) -> None:
        state = self.state(pool, windows, now)
        taken = decide(state)
        self.spend(pool, now, taken)
        self._pace.setdefault(pool, {}).update(advanced(state.pace, now, taken, pacing or {}))

    def spend(self, pool: str, now: float, units: Mapping[str, float]) -> None:
        events = self._spend.setdefault(pool, [])
        events.extend((now, u, a) for u, a in units.items() if a)

    def observe(
        self, pool: str, live: Sequence[Observation], blocked: tuple[float, str] | None
    ) -> None:
        if live:
            self._live[pool] = list(live)
        if blocked is not None:
            self._blocked[pool] = blocked


class StoreLedger:
    """The store's ledger: spend shared by every process on the store (:mod:`okrsync.store.quota`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def reserve(
        self,
        pool: str,
        windows: Sequence[Window],
        now: float,
        decide: Decide,
        pacing: Pacing | None = None,
    ) -> None:
        self._store.reserve_quota(pool, windows, now, decide, pacing)

    def spend(self, pool: str, now: float, units: Mapping[str, float]) -> None:
        self._store.spend_quota(pool, now, units)

    def observe(
        self, pool: str, live: Sequence[Observation], blocked: tuple[float, str] | None
    ) -> None:
        self._store.observe_quota(pool, live, blocked)


__all__ = [
    "HEADROOM",
    "Budgeted",
    "Ledger",
    "MemoryLedger",
    "Pool",
    "StoreLedger",
    "Throttle",
    "best_interval",
    "budget",
    "demand_of",
    "pools",
    "settle",
    "stretch",
    "vendor_figures",
]
