"""Quota benchmark (issue #22): a day of scheduling on a virtual clock, against the budgets.

    python bench/quota.py [--krs 2000] [--tick 1m] [--hours 24] [--warmup 2h]
                          [--sf-per-day 20000] [--seed 1] [--detail] [--json]

Generates an organisation of ``--krs`` key results (mapping files in a temp
dir) on six connections: Salesforce (SOQL ``COUNT()``, sent 25 to a Composite
Batch, each query one call of the org's allowance, ``--sf-per-day``), Mixpanel
(60 queries an hour), PostHog (240 a minute, 2,400 an hour), Plausible (600 an
hour), and Jira and a JSON API without a quota; refreshes a mix of 5m, 15m, 1h, 4h and 1d, 20 % of
the key results sharing their query with another of the same refresh. Loads
it with okrsync's own loader, then runs the real scheduler every ``--tick``
of a virtual day (nothing sleeps): ``make_plan`` → ``budget`` (one
``MemoryLedger`` for the whole day) → each admitted job through the real
``Gate`` of its pool's reservation and then to a vendor simulator that
enforces the vendor's true limits over rolling windows and answers 429 to a
request over them (a self-inflicted 429) → ``settle`` with what was spent →
the measured key results' states.

Staleness is a key result's age (now - its last good value; before its first,
since the start of the day), averaged over time: between two ticks it grows
linearly, so each tick after the warm-up adds the segment [age, age + tick]
and median and p95 are read off that distribution exactly. The best is the
water-filling schedule at the vendor's full sustained capacity (see
``bound``); the ratio is measured / best. Targets: 0 self-inflicted 429s,
median and p95 within 1.2x of the best.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okrsync.sdk.quota import Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
START = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday inside cycle 2026, at midnight
TARGETS = {"self_429": 0, "ratio": 1.2}
SF_BATCH = 25  # Salesforce's Composite Batch: 25 SOQL queries a round trip, each a call

# Connection → kind, its share of the key results, its refresh mix (seconds → share).
REFRESH = {"5m": 300.0, "15m": 900.0, "1h": HOUR, "4h": 4 * HOUR, "1d": DAY}
MIX: dict[str, tuple[str, float, dict[str, float]]] = {
    "salesforce": ("salesforce", 0.30, {"5m": 0.2, "15m": 0.3, "1h": 0.3, "4h": 0.1, "1d": 0.1}),
    "posthog": ("posthog", 0.25, {"5m": 0.3, "15m": 0.3, "1h": 0.2, "4h": 0.1, "1d": 0.1}),
    "web": ("plausible", 0.15, {"15m": 0.2, "1h": 0.5, "4h": 0.2, "1d": 0.1}),
    "mixpanel": ("mixpanel", 0.10, {"15m": 0.3, "1h": 0.4, "4h": 0.2, "1d": 0.1}),
    "jira": ("jira", 0.10, {"5m": 0.2, "15m": 0.3, "1h": 0.3, "4h": 0.1, "1d": 0.1}),
    "stats": ("http", 0.10, {"5m": 0.2, "15m": 0.3, "1h": 0.3, "4h": 0.1, "1d": 0.1}),
}
SHARED = 0.2
SECRETS = {"SF_KEY": "bench", "SF_SECRET": "bench", "MP_SECRET": "bench",
           "PH_KEY": "phx_bench0000000000", "PL_KEY": "bench", "JIRA_TOKEN": "bench"}  # fmt: skip


def truth(sf_per_day: float) -> dict[str, list[tuple[float, float]]]:
    """What each vendor really enforces: (limit, seconds) windows, independent of okrsync.

    Salesforce's is the org's allowance (an edition's 15,000 a day is the connector's
    default; this org has ``--sf-per-day``, written into ``quota: {per_day}``), and it
    charges every query of a Composite Batch as a call of its own."""
    return {
        "salesforce": [(sf_per_day, DAY)],
        "mixpanel": [(60.0, HOUR)],  # docs.mixpanel.com/reference/rate-limits
        "posthog": [(240.0, MINUTE), (2400.0, HOUR)],  # posthog.com/docs/api/queries
        "web": [(600.0, HOUR)],  # plausible.io/docs/stats-api
    }


def source(connection: str, q: int) -> list[str]:
    """The source lines of distinct query ``q`` of ``connection``."""
    if connection == "salesforce":
        soql = f"SELECT COUNT() FROM Opportunity WHERE Region__c = 'R{q}'"
        return ["connection: salesforce", f'soql: "{soql}"', "value: totalSize"]
    if connection == "mixpanel":
        return ["connection: mixpanel", f"event: Purchase {q}"]
    if connection == "posthog":
        return ["connection: posthog", f"hogql: SELECT count() FROM events WHERE event = 'e{q}'"]
    if connection == "web":
        return ["connection: web", f"event: Signup {q}"]
    if connection == "jira":
        return ["connection: jira", f"jql: project = SUP AND labels = q{q}", "aggregate: count"]
    return ["connection: stats", f"path: /api/v1/metrics/m{q}", "value: $.data.value"]


CONNECTIONS = """version: 1
connections:
  salesforce: {{type: salesforce, domain: example.my, consumer_key: "${{SF_KEY}}",
               consumer_secret: "${{SF_SECRET}}", quota: {{per_day: {sf_per_day:g}}}}}
  mixpanel: {{type: mixpanel, username: okrsync.sa, secret: "${{MP_SECRET}}", project_id: 1}}
  posthog: {{type: posthog, project_id: 1, api_key: "${{PH_KEY}}"}}
  web: {{type: plausible, api_key: "${{PL_KEY}}", site_id: example.com}}
  jira: {{type: jira, url: "https://example.atlassian.net", flavor: cloud,
         email: bench@example.com, token: "${{JIRA_TOKEN}}"}}
  stats: {{type: http, url: "https://stats.example.com"}}
"""


@dataclass(frozen=True)
class Kr:
    id: str
    connection: str
    query: int  # distinct query number within its connection
    refresh: float  # seconds


def generate(directory: Path, krs: int, sf_per_day: float, seed: int) -> list[Kr]:
    """Write connections.yaml and the mapping files; the key results as generated."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "connections.yaml").write_text(CONNECTIONS.format(sf_per_day=sf_per_day))
    names = list(MIX)
    weights = [MIX[n][1] for n in names]
    next_query = dict.fromkeys(names, 0)
    made: dict[tuple[str, str], list[int]] = {}  # (connection, refresh) → its queries so far
    out: list[Kr] = []
    files: dict[int, list[str]] = {}
    for i in range(krs):
        connection = rng.choices(names, weights)[0]
        mix = MIX[connection][2]
        refresh = rng.choices(list(mix), list(mix.values()))[0]
        earlier = made.setdefault((connection, refresh), [])
        if earlier and rng.random() < SHARED:
            q = rng.choice(earlier)  # the same query and refresh as another key result
        else:
            q = next_query[connection]
            next_query[connection] += 1
            earlier.append(q)
        out.append(Kr(f"kr-{i}", connection, q, REFRESH[refresh]))
        obj = i // 10
        lines = files.setdefault(obj // 100, ["cycle: 2026", "objectives:"])
        if i % 10 == 0:
            lines += [f"  - id: obj-{obj}", f"    title: Objective {obj}",
                      "    owner: o@example.com", "    key_results:"]  # fmt: skip
        lines += [f"      - id: kr-{i}", f"        title: Key result {i}",
                  "        owner: o@example.com", "        start: 0", "        target: 1000000",
                  f"        refresh: {refresh}", "        source:"]  # fmt: skip
        lines += [f"          {line}" for line in source(connection, q)]
    for number, lines in files.items():
        (directory / f"team-{number:03d}.yaml").write_text("\n".join(lines) + "\n")
    return out


class Vendor:
    """A vendor's true limits over rolling windows: a request over any of them is a 429."""

    def __init__(self, windows: list[tuple[float, float]]) -> None:
        self.windows = windows
        self._events: list[deque[tuple[float, float]]] = [deque() for _ in windows]
        self._used = [0.0] * len(windows)
        self.requests = 0
        self.rejected = 0

    def request(self, now: float, calls: float = 1.0) -> bool:
        for n, (_, seconds) in enumerate(self.windows):
            events = self._events[n]
            while events and events[0][0] <= now - seconds:
                self._used[n] -= events.popleft()[1]
        if any(self._used[n] + calls > limit + 1e-9 for n, (limit, _) in enumerate(self.windows)):
            self.rejected += 1  # not counted in its windows, as vendors do
            return False
        for n in range(len(self.windows)):
            self._events[n].append((now, calls))
            self._used[n] += calls
        self.requests += 1
        return True


def paced_at(
    windows: tuple[Window, ...],
    pool: str,
    at: float,
    run: dict[str, tuple[float, int]],
    free_at: dict[str, float],
) -> float:
    """When execute's pacing (okrsync.sync.execute.pace) lets a run's next request of a
    short window go: a tenth of the window at once, then 90 % of its rate. A run starts
    when the one before it ended (the scheduler's runs are serial)."""
    burst = min(max(1.0, w.limit / 10) for w in windows)
    interval = max(w.seconds / (0.9 * w.limit) for w in windows)
    start, n = run.get(pool, (max(at, free_at.get(pool, at)), 0))
    run[pool] = (start, n + 1)
    when = start + max(0.0, n + 1 - burst) * interval
    free_at[pool] = when
    return when


class Ages:
    """Time-averaged age distribution: a histogram of ``age`` in ticks, each [a, a + 1)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def add(self, hist: dict[int, int]) -> None:
        for a, n in hist.items():
            self.counts[a] = self.counts.get(a, 0) + n

    def quantile(self, q: float, tick: float) -> float:
        total = sum(self.counts.values())
        if not total:
            return math.nan
        goal, seen = q * total, 0.0
        for a in sorted(self.counts):
            n = self.counts[a]
            if seen + n >= goal:
                return (a + (goal - seen) / n) * tick
            seen += n
        return (max(self.counts) + 1) * tick


def uniform_quantile(spans: dict[float, int], q: float) -> float:
    """The q-quantile of a mixture of uniforms on [0, T] (``spans``: T → how many)."""
    total = sum(spans.values())
    lo, hi = 0.0, max(spans)
    for _ in range(100):
        x = (lo + hi) / 2
        cdf = sum(n * min(1.0, x / t) for t, n in spans.items()) / total
        lo, hi = (x, hi) if cdf < q else (lo, x)
    return (lo + hi) / 2


def water_level(demand: list[tuple[float, float]], capacity: float) -> float:
    """T* solving Σ cᵢ / max(rᵢ, T*) = C by bisection (0 when all fit as asked)."""
    if not demand or sum(c / r for c, r in demand) <= capacity:
        return 0.0
    lo, hi = (
        min(r for _, r in demand),
        sum(c for c, _ in demand) / capacity + max(r for _, r in demand),
    )
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(c / max(r, mid) for c, r in demand) > capacity:
            lo = mid
        else:
            hi = mid
    return hi


def bound(krs: list[Kr], limits: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """The best any schedule could reach: per pool, the water-filling schedule.

    Each distinct query i (cost cᵢ in the pool's unit, refresh rᵢ its key results'
    shortest) is refreshed exactly every Tᵢ = max(rᵢ, T*), T* solving
    Σ cᵢ / max(rᵢ, T*) = C, C the vendor's sustained capacity (the tightest window's
    limit / length, at 100 %, not the scheduler's 95 %), phases spread: a key result's
    age is uniform on [0, max(its refresh, Tᵢ)]. Ticks are ignored (the strict bound).
    """
    from okrsync.sync.budget import best_interval

    out: dict[str, Any] = {}
    by_pool: dict[str, dict[int, float]] = {}
    for kr in krs:
        queries = by_pool.setdefault(kr.connection, {})
        queries[kr.query] = min(queries.get(kr.query, math.inf), kr.refresh)
    for pool, queries in by_pool.items():
        cost = 1.0  # every vendor here charges a query a unit (Salesforce: batched or not)
        demand = [(cost, r) for r in queries.values()]
        if pool in limits:
            capacity = min(limit / seconds for limit, seconds in limits[pool])
            t_star = water_level(demand, capacity)
            theirs = best_interval(demand, capacity)  # okrsync's, checked against ours
            assert abs(theirs - t_star) <= 1e-6 * max(1.0, t_star), (pool, theirs, t_star)
        else:
            capacity, t_star = math.inf, 0.0
        spans: dict[float, int] = {}
        by_refresh: dict[float, dict[float, int]] = {}
        for kr in krs:
            if kr.connection == pool:
                t = max(kr.refresh, queries[kr.query], t_star)
                spans[t] = spans.get(t, 0) + 1
                mine = by_refresh.setdefault(kr.refresh, {})
                mine[t] = mine.get(t, 0) + 1
        out[pool] = {"t_star": t_star, "capacity": capacity, "spans": spans,
                     "by_refresh": by_refresh,
                     "demand": sum(c / r for c, r in demand), "queries": len(queries)}  # fmt: skip
    return out


@dataclass
class PoolFigures:
    krs: int = 0
    queries: int = 0
    requests: int = 0  # units of the vendor's allowance charged (a query each)
    round_trips: int = 0  # HTTP requests (a Composite Batch: one for up to 25 queries)
    rejected: int = 0  # self-inflicted 429s
    gate_refused: int = 0  # jobs the reservation's gate kept back
    throttled_end: int = 0  # shown throttled (okrsync status) at the end of the day
    throttled_max: int = 0  # … at the most, after any tick
    refused_max: int = 0  # due, not stretched, and kept back for want of room at one tick
    ages: Ages = field(default_factory=Ages)
    by_refresh: dict[float, Ages] = field(default_factory=dict)  # refresh asked → ages


def simulate(args: argparse.Namespace, directory: Path, krs: list[Kr]) -> dict[str, Any]:
    from okrsync.config.loader import load
    from okrsync.config.registry import Registry
    from okrsync.domain.records import KrState
    from okrsync.errors import MeasureError, ThrottledError
    from okrsync.sdk.connector import Reading
    from okrsync.sync.budget import MemoryLedger, budget, pools, settle, stretch, stretched_reason
    from okrsync.sync.execute import Executed, Gate, Outcome
    from okrsync.sync.plan import Throttle, make_plan

    clock = time.perf_counter()
    # Throw-away secrets, never sent: with secrets="skip" (or one unset) the loader keeps a
    # connection unvalidated, its quota: a plain dict that okrsync.sync.budget cannot read.
    config = load(directory, Registry.default(), environ=SECRETS)
    load_s = time.perf_counter() - clock
    limits = truth(args.sf_per_day)
    vendors = {name: Vendor(windows) for name, windows in limits.items()}
    budgets = pools(config, {})
    assert set(budgets) == set(limits), (set(budgets), set(limits))
    for name, pool in budgets.items():  # okrsync's budget is the vendor's truth here
        assert sorted((w.limit, w.seconds) for w in pool.windows) == sorted(limits[name]), name
    connection_of = {kr.id: kr.connection for kr in krs}
    waits: dict[
        str, str | None
    ] = {}  # pool → the reason its stretched key results show (not a refusal)
    for name, pool in budgets.items():
        unit, t_star = max(stretch(config, pool).items(), key=lambda ut: ut[1])
        waits[name] = stretched_reason(pool, unit, t_star) if t_star > 0 else None
    figures = {name: PoolFigures() for name in MIX}
    for kr in krs:
        figures[kr.connection].krs += 1
    for name, f in figures.items():
        f.queries = len({kr.query for kr in krs if kr.connection == name})

    ledger = MemoryLedger()
    free_at: dict[str, float] = {}  # pool → when its last paced request went (runs are serial)
    states: dict[str, KrState] = {}
    last: dict[str, int] = {}  # kr → the tick of its last good value (absent: the day's start)
    shown: dict[str, Throttle] = {}  # kr → throttled as the store shows it (okrsync status)
    tick = args.tick
    ticks = round(args.hours * HOUR / tick)
    warm = round(args.warmup / tick)
    throttled_max_all = 0
    stage = {"plan": 0.0, "budget": 0.0, "execute": 0.0, "settle": 0.0, "ages": 0.0}
    for k in range(ticks):
        now = START + timedelta(seconds=k * tick)
        at = now.timestamp()
        t0 = time.perf_counter()
        plan = make_plan(config, states, now)
        t1 = time.perf_counter()
        budgeted = budget(plan, config, states, ledger, {})
        t2 = time.perf_counter()
        # execute, without HTTP: each connection's queries as jobs (SOQL in batches of 25),
        # each through its pool's real Gate, then to the vendor.
        gates = {r.pool: Gate(r.taken, r.paced) for r in budgeted.reserved.values()}
        sent_in_run: dict[str, tuple[float, int]] = {}  # pool → (start, paced requests sent)
        by_connection: dict[str, list[str]] = {}
        for key, query in budgeted.plan.queries.items():
            by_connection.setdefault(query.connection, []).append(key)
        outcomes: dict[str, Outcome] = {}
        for name, keys in by_connection.items():
            connector = config.registry[config.connections[name].type]
            reserved = budgeted.reserved.get(name)
            gate = gates[reserved.pool] if reserved is not None else None
            size = SF_BATCH if name == "salesforce" else 1
            for chunk in (keys[i : i + size] for i in range(0, len(keys), size)):
                cost: dict[str, float] = {}
                for key in chunk:
                    for unit, c in connector.cost(budgeted.plan.queries[key].source).items():
                        cost[unit] = cost.get(unit, 0.0) + c
                cost = {u: float(math.ceil(c - 1e-9)) for u, c in cost.items()}
                refused = gate.refuse(cost) if gate is not None else None
                if refused is not None:
                    figures[name].gate_refused += 1
                    for key in chunk:
                        outcomes[key] = Outcome(None, ThrottledError(refused), 0.0)
                    continue
                calls = len(chunk)  # Salesforce charges each query of a batch
                figures[name].requests += calls
                figures[name].round_trips += 1
                when = at
                if reserved is not None and reserved.paced:  # execute's gate paces the run
                    when = paced_at(reserved.paced, reserved.pool, at, sent_in_run, free_at)
                ok = vendors[name].request(when, calls) if name in vendors else True
                for key in chunk:
                    if ok:
                        outcomes[key] = Outcome(Reading(1.0, calls=0), None, 0.0)
                    else:
                        error = MeasureError("HTTP 429 Too Many Requests")
                        error.kind, error.calls = "quota", 0
                        outcomes[key] = Outcome(None, error, 0.0)
        spent = {pool: gate.spent for pool, gate in gates.items()}
        t3 = time.perf_counter()
        throttled = settle(budgeted, Executed(outcomes, {}, spent), ledger)
        for key, outcome in outcomes.items():
            if outcome.error is not None and outcome.error.kind == "throttled":
                continue  # not sent: no record, its state stays
            for kr_id in budgeted.plan.queries[key].kr_ids:
                old = states.get(kr_id)
                good = outcome.error is None
                states[kr_id] = KrState(
                    kr_id, 1.0 if good else (old.value if old else None),
                    now if good else (old.measured_at if old else None), now,
                    "ok" if good else "error", None if good else "quota",
                    None if good else str(outcome.error), None, None, None,
                    budgeted.plan.queries[key].connection, None,
                )  # fmt: skip
                if good:
                    last[kr_id] = k
                shown.pop(kr_id, None)  # a record clears the mark; the run's throttled set it
        shown.update(throttled)
        refusals = dict.fromkeys(MIX, 0)
        for kr_id, why in throttled.items():
            owner = connection_of[kr_id]
            if why.reason != waits.get(owner):
                refusals[owner] += 1
        counts = dict.fromkeys(MIX, 0)
        for kr_id in shown:
            counts[connection_of[kr_id]] += 1
        throttled_max_all = max(throttled_max_all, len(shown))
        for name, n in counts.items():
            figures[name].throttled_max = max(figures[name].throttled_max, n)
            figures[name].throttled_end = n
            figures[name].refused_max = max(figures[name].refused_max, refusals[name])
        t4 = time.perf_counter()
        if k >= warm:  # the age over [now, now + tick): [k - last, k - last + 1) ticks
            hist: dict[tuple[str, float], dict[int, int]] = {}
            for one in krs:
                a = k - last.get(one.id, 0)
                h = hist.setdefault((one.connection, one.refresh), {})
                h[a] = h.get(a, 0) + 1
            for (name, refresh), h in hist.items():
                figures[name].ages.add(h)
                figures[name].by_refresh.setdefault(refresh, Ages()).add(h)
        t5 = time.perf_counter()
        for name, spent_s in zip(stage, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            stage[name] += spent_s
    for name, vendor in vendors.items():
        figures[name].rejected = vendor.rejected
    return {
        "figures": figures,
        "stretch": {name: stretch(config, pool) for name, pool in budgets.items()},
        "load_s": load_s,
        "stage_s": stage,
        "throttled_max_all": throttled_max_all,
        "ticks": ticks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--krs", type=int, default=2000)
    parser.add_argument("--tick", type=duration, default=MINUTE, help="scheduler interval (1m)")
    parser.add_argument("--hours", type=float, default=24.0, help="length of the day")
    parser.add_argument("--warmup", type=duration, default=2 * HOUR, help="not sampled (2h)")
    parser.add_argument("--sf-per-day", type=float, default=20000.0,
                        help="the Salesforce org's daily API allowance")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--detail", action="store_true", help="staleness per refresh asked too")
    parser.add_argument(
        "--json", action="store_true", help="print the figures as one JSON line too"
    )
    args = parser.parse_args()
    os.environ.setdefault("OKRSYNC_LOG_LEVEL", "warning")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="okrsync-quota-") as tmp:
        directory = Path(tmp) / "mappings"
        krs = generate(directory, args.krs, args.sf_per_day, args.seed)
        run = simulate(args, directory, krs)
    wall = time.perf_counter() - started
    report(args, krs, run, wall)


def duration(text: str) -> float:
    from okrsync.domain.units import parse_duration

    return parse_duration(text).total_seconds()


def short(seconds: float) -> str:
    """A duration people read: 45s, 12.5m, 3.2h."""
    if not math.isfinite(seconds):
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * MINUTE:
        return f"{seconds / MINUTE:.1f}m"
    return f"{seconds / HOUR:.2f}h"


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def budget_text(windows: list[tuple[float, float]] | None) -> str:
    names = {MINUTE: "min", HOUR: "h", DAY: "day"}
    if not windows:
        return "none"
    return ", ".join(f"{limit:,.0f}/{names.get(s, f'{s:g}s')}" for limit, s in windows)


def figures_of(args: argparse.Namespace, krs: list[Kr], run: dict[str, Any]) -> dict[str, Any]:
    """The table's rows, per pool and overall, as plain numbers (seconds)."""
    best = bound(krs, truth(args.sf_per_day))
    limits = truth(args.sf_per_day)
    rows: dict[str, Any] = {}
    everyone, spans_all = Ages(), dict[float, int]()
    for name, f in run["figures"].items():
        b = best[name]
        everyone.add(f.ages.counts)
        for t, n in b["spans"].items():
            spans_all[t] = spans_all.get(t, 0) + n
        sched = max(run["stretch"].get(name, {"": 0.0}).values())
        rows[name] = row(f.ages, b["spans"], args.tick) | {
            "type": MIX[name][0], "krs": f.krs, "queries": f.queries,
            "budget": budget_text(limits.get(name)),
            "demand_per_capacity": b["demand"] / b["capacity"] if name in limits else None,
            "t_star_best_s": b["t_star"], "t_star_scheduler_s": sched,
            "requests": f.requests, "round_trips": f.round_trips, "self_429": f.rejected,
            "gate_refused": f.gate_refused, "throttled_end": f.throttled_end,
            "throttled_max": f.throttled_max, "refused_max": f.refused_max,
            "by_refresh": {
                label: row(f.by_refresh[r], b["by_refresh"][r], args.tick)
                | {"krs": sum(b["by_refresh"][r].values())}
                for label, r in REFRESH.items() if r in f.by_refresh
            },
        }  # fmt: skip
    rows["all"] = row(everyone, spans_all, args.tick) | {
        "type": "", "krs": len(krs), "queries": sum(r["queries"] for r in rows.values()),
        "budget": "", "demand_per_capacity": None, "t_star_best_s": None,
        "t_star_scheduler_s": None,
        **{k: sum(r[k] for r in rows.values()) for k in
           ("requests", "round_trips", "self_429", "gate_refused", "throttled_end",
            "refused_max")},
        "throttled_max": run["throttled_max_all"],
    }  # fmt: skip
    return rows


def row(ages: Ages, spans: dict[float, int], tick: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, q in (("median", 0.5), ("p95", 0.95)):
        measured, best = ages.quantile(q, tick), uniform_quantile(spans, q)
        out[f"{name}_s"], out[f"best_{name}_s"] = measured, best
        ok = best > 0 and math.isfinite(measured)
        out[f"{name}_ratio"] = measured / best if ok else None  # None: JSON's null
    return out


def report(args: argparse.Namespace, krs: list[Kr], run: dict[str, Any], wall: float) -> None:
    rows = figures_of(args, krs, run)
    head = ("pool", "type", "KRs", "queries", "budget", "demand", "T* best", "T* sched",
            "requests", "429s", "throttled end/max", "refused max", "median", "best", "ratio",
            "p95", "best", "ratio")  # fmt: skip
    table: list[tuple[str, ...]] = [head]
    for name, r in rows.items():
        demand = r["demand_per_capacity"]
        table.append((
            name, r["type"], f"{r['krs']:,}", f"{r['queries']:,}", r["budget"],
            "" if demand is None else f"{demand:.2f}x",
            short(r["t_star_best_s"]) if r["t_star_best_s"] else "-",
            short(r["t_star_scheduler_s"]) if r["t_star_scheduler_s"] else "-",
            f"{r['requests']:,}", str(r["self_429"]),
            f"{r['throttled_end']}/{r['throttled_max']}", str(r["refused_max"]),
            short(r["median_s"]), short(r["best_median_s"]), ratio_text(r["median_ratio"]),
            short(r["p95_s"]), short(r["best_p95_s"]), ratio_text(r["p95_ratio"]),
        ))  # fmt: skip
    widths = [max(len(str(line[i])) for line in table) for i in range(len(head))]
    print(
        f"A day on a virtual clock: {len(krs):,} key results, tick {short(args.tick)}, "
        f"{args.hours:g} h, staleness sampled after the first {short(args.warmup)} "
        f"(time-averaged; best: water-filling at 100 % of each vendor's sustained capacity, "
        f"ages uniform on [0, T], ticks ignored)"
    )
    for n, line in enumerate(table):
        print("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if args.detail:
        print()
        print("by refresh asked:")
        detail: list[tuple[str, ...]] = [
            ("pool", "refresh", "KRs", "median", "best", "ratio", "p95", "best", "ratio")
        ]
        for name, r in rows.items():
            for label, d in r.get("by_refresh", {}).items():
                detail.append((
                    name, label, f"{d['krs']:,}", short(d["median_s"]), short(d["best_median_s"]),
                    ratio_text(d["median_ratio"]), short(d["p95_s"]), short(d["best_p95_s"]),
                    ratio_text(d["p95_ratio"]),
                ))  # fmt: skip
        widths = [max(len(str(line[i])) for line in detail) for i in range(len(detail[0]))]
        for n, line in enumerate(detail):
            print("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                            for i, (c, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
            if n == 0:
                print("  ".join("-" * w for w in widths))
    overall = rows["all"]
    met = (
        overall["self_429"] == TARGETS["self_429"]
        and all((r[f"{q}_ratio"] or math.inf) <= TARGETS["ratio"]
                for r in rows.values() for q in ("median", "p95"))
    )  # fmt: skip
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in run["stage_s"].items())
    print(
        f"targets: 0 self-inflicted 429s, median and p95 <= {TARGETS['ratio']}x the best in "
        f"every row: {'met' if met else 'NOT met'}. gate refusals: {overall['gate_refused']}. "
        f"wall {wall:.1f} s (load {run['load_s']:.1f} s; {stages}), {run['ticks']} ticks"
    )
    if args.json:
        print(json.dumps({
            "krs": len(krs), "tick_s": args.tick, "hours": args.hours, "warmup_s": args.warmup,
            "sf_per_day": args.sf_per_day, "seed": args.seed, "rows": rows, "targets_met": met,
            "wall_s": round(wall, 2), "stage_s": run["stage_s"],
        }))  # fmt: skip


if __name__ == "__main__":
    main()
