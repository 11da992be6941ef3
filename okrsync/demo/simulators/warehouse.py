"""The demo's finance warehouse: a SQLite file that ``type: sql`` connections read.

``seed(path, start=…, end=…)`` writes, for the cycle ``[start, end]``, data up to
``today`` (nothing in the future), the same for the same arguments:

    subscriptions(id, customer, plan, arr, currency, started_on, ended_on)
        annual recurring revenue; a subscription is active on day D when
        started_on <= D < ended_on (ended_on NULL: still active)
    invoices(id, customer, product, amount, currency, issued_on)
        product 'core': each active subscription billed arr/12 monthly, on the
        day of the month it started (the month's last day when shorter), first
        on started_on; product 'new': new-product licence sales,
        a credit note (negative amount) on a day that lost more than it sold

The numbers agree with the stats simulator (:func:`okrsync.demo.simulators.stats.metric_value`),
so the demo's SQL key results move like its HTTP ones, on every day up to ``today``:

    SUM(arr) of subscriptions active on D             = metric_value("annual_revenue", start, end, D)
    SUM(amount) of 'new' invoices issued on or before D = metric_value("new_product_sales", start, end, D)

:data:`QUERIES` holds those two and "revenue this cycle" (every invoice from the
cycle's start to ``{as_of}``, growing from 0) as ``sql:`` sources for the demo.
Dates are ISO text (SQLite has no date type), so they compare with the bound
``:cycle_start`` (``2026-10-01``) and ``:as_of`` (``2026-11-15 12:00:00.000000``)
as text does: a row dated on the as-of day counts.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import tempfile
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from okrsync.demo.simulators.simulated import Simulated, Span
from okrsync.demo.simulators.stats import metric_value

CURRENCY = "USD"
HISTORY_DAYS = 730  # subscriptions that existed before the cycle started within two years
NEW_PRODUCT_HISTORY_DAYS = 365
SEED = 20261001
QUERIES = {
    "annual_revenue": (
        "SELECT ROUND(SUM(arr), 2) AS arr FROM subscriptions "
        "WHERE started_on <= {as_of} AND (ended_on IS NULL OR ended_on > {as_of})"
    ),
    "new_product_sales": (
        "SELECT ROUND(SUM(amount), 2) AS sales FROM invoices "
        "WHERE product = 'new' AND issued_on <= {as_of}"
    ),
    "revenue_this_cycle": (
        "SELECT ROUND(COALESCE(SUM(amount), 0), 2) AS revenue FROM invoices "
        "WHERE issued_on >= {cycle.start} AND issued_on <= {as_of}"
    ),
}
_SCHEMA = """
CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY, customer TEXT NOT NULL, plan TEXT NOT NULL,
    arr NUMERIC NOT NULL, currency TEXT NOT NULL, started_on DATE NOT NULL, ended_on DATE
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY, customer TEXT NOT NULL, product TEXT NOT NULL,
    amount NUMERIC NOT NULL, currency TEXT NOT NULL, issued_on DATE NOT NULL
);
CREATE INDEX invoices_issued_on ON invoices (issued_on);
"""
_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay"]
_KINDS = ["Systems", "Labs", "Foods", "Logistics", "Health", "Bank", "Media", "Energy"]
_PLANS = ["team", "business", "enterprise"]


@dataclass
class _Sub:
    customer: str
    plan: str
    cents: int
    started_on: date
    ended_on: date | None = None


def _cents(name: str, start: date, end: date, day: date) -> int:
    return round(metric_value(name, start, end, day) * 100)


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` cents in ``parts`` positive shares that add up exactly."""
    weights = [rng.uniform(0.3, 1.0) for _ in range(parts)]
    shares = [int(total * w / sum(weights)) for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def _subscriptions(
    start: date, end: date, anchor: date, today: date, rng: random.Random
) -> list[_Sub]:
    """Active ARR on every day from ``anchor`` to ``today`` equals annual_revenue's value."""
    customers = [f"{_WORDS[n % 8]} {_KINDS[(n // 8) % 8]}" for n in range(64)]
    base = _split(_cents("annual_revenue", start, end, anchor), 48, rng)
    subs = [
        _Sub(
            customers[i], rng.choice(_PLANS), cents, anchor - timedelta(rng.randrange(HISTORY_DAYS))
        )
        for i, cents in enumerate(base)
    ]
    day, last = anchor + timedelta(1), _cents("annual_revenue", start, end, anchor)
    while day <= today:
        now = _cents("annual_revenue", start, end, day)
        change, last = now - last, now
        if change > 0:  # a new customer or an upgrade
            subs.append(_Sub(rng.choice(customers), rng.choice(_PLANS), change, day))
        elif change < 0:  # the largest active subscription is downgraded
            big = max((s for s in subs if s.ended_on is None), key=lambda s: s.cents)
            big.ended_on = day
            subs.append(_Sub(big.customer, big.plan, big.cents + change, day))
        day += timedelta(1)
    return subs


def _core_invoices(subs: list[_Sub], today: date) -> list[tuple[str, str, int, date]]:
    """Each subscription billed a twelfth of its ARR monthly, from its start while active."""
    out = []
    for sub in subs:
        month = 0
        while True:
            year, index = divmod(sub.started_on.month - 1 + month, 12)
            year, index = sub.started_on.year + year, index + 1
            # the start's day, or the month's last when shorter: never before started_on
            billed = date(year, index, min(sub.started_on.day, monthrange(year, index)[1]))
            if billed > today or (sub.ended_on is not None and billed >= sub.ended_on):
                break
            out.append((sub.customer, "core", round(sub.cents / 12), billed))
            month += 1
    return out


def _new_invoices(
    start: date, end: date, anchor: date, today: date, rng: random.Random
) -> list[tuple[str, str, int, date]]:
    """'new' sales to date on every day from ``anchor`` to ``today`` equal new_product_sales."""
    customers = [f"{_WORDS[n % 8]} {_KINDS[(n // 8) % 8]}" for n in range(64)]
    history = _split(_cents("new_product_sales", start, end, anchor), 96, rng)
    out = [
        (
            rng.choice(customers),
            "new",
            cents,
            anchor - timedelta(rng.randrange(NEW_PRODUCT_HISTORY_DAYS)),
        )
        for cents in history
    ]
    day, last = anchor + timedelta(1), _cents("new_product_sales", start, end, anchor)
    while day <= today:
        now = _cents("new_product_sales", start, end, day)
        change, last = now - last, now
        shares = _split(change, rng.randint(1, 3), rng) if change > 0 else [change]
        out += [(rng.choice(customers), "new", cents, day) for cents in shares if cents]
        day += timedelta(1)
    return out


def seed(path: str | Path, *, start: date, end: date, today: date | None = None) -> Path:
    """Write the warehouse for cycle ``[start, end]`` as of ``today`` (default: UTC today).

    The file is replaced atomically, so a sync reading it never sees half a warehouse.
    """
    today = today or datetime.now(UTC).date()
    anchor = min(start - timedelta(1), today)
    rng = random.Random(SEED)  # noqa: S311 - deterministic demo data, not security
    subs = _subscriptions(start, end, anchor, today, rng)
    invoices = sorted(
        _core_invoices(subs, today) + _new_invoices(start, end, anchor, today, rng),
        key=lambda i: i[3],
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".warehouse-", suffix=".db", dir=target.parent)
    os.close(handle)
    try:
        with sqlite3.connect(temp) as db:
            db.executescript(_SCHEMA)
            db.executemany(
                "INSERT INTO subscriptions (customer, plan, arr, currency, started_on, ended_on)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.customer,
                        s.plan,
                        s.cents / 100,
                        CURRENCY,
                        s.started_on.isoformat(),
                        s.ended_on.isoformat() if s.ended_on else None,
                    )
                    for s in sorted(subs, key=lambda s: s.started_on)
                ],
            )
            db.executemany(
                "INSERT INTO invoices (customer, product, amount, currency, issued_on)"
                " VALUES (?, ?, ?, ?, ?)",
                [(c, p, cents / 100, CURRENCY, d.isoformat()) for c, p, cents, d in invoices],
            )
        db.close()
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def url_for(path: str | Path) -> str:
    """The SQLAlchemy URL of a seeded warehouse file."""
    return f"sqlite:///{Path(path).resolve()}"


SERVES = "sql"


def demo(span: Span) -> Simulated:
    """A warehouse seeded for the demo's cycles, in a directory removed when the demo stops."""
    folder = Path(tempfile.mkdtemp(prefix="okrsync-demo-warehouse-"))
    url = url_for(seed(folder / "warehouse.db", start=span.start, end=span.end))
    cleanup = partial(shutil.rmtree, folder, ignore_errors=True)
    return Simulated(None, {"WAREHOUSE_URL": url}, {"url": url}, cleanup)


__all__ = [
    "CURRENCY",
    "QUERIES",
    "SERVES",
    "demo",
    "seed",
    "url_for",
]
