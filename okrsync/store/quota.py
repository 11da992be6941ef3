"""The quota ledger in the store: one budget for every process that shares the store.

What a sync reserves before it sends (and settles after) is added to
``quota_spend`` per pool, unit and minute; a window's use is the sum over its
length. A reservation reads and adds under a lock (SQLite's write lock, taken
at BEGIN; a PostgreSQL advisory lock per pool), so two processes reserving at
once see each other's spend and never share the same room.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from okrsync.sdk.quota import Observation, Pacing, Spent, Window, advanced
from okrsync.store.tables import (
    kr_state_table,
    quota_blocked_table,
    quota_live_table,
    quota_pace_table,
    quota_spend_table,
)

_PG_QUOTA_LOCK = 0x71756F74  # "quot": the advisory lock class of pool reservations
KEEP = timedelta(days=2)  # spend older than the longest window (a day) and a margin is dropped


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _minute(at: float) -> datetime:
    return datetime.fromtimestamp(at // 60 * 60, UTC)


def lock(conn: Connection, pool: str) -> None:
    """Serialise reservations of ``pool`` (SQLite: the write transaction already is)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(pool.encode()) - 2**31
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _PG_QUOTA_LOCK, "b": key}
        )


def spent(conn: Connection, pool: str, windows: Sequence[Window], now: float) -> Spent:
    """A pool's state: units used per window, the vendor's figures, a wait it asked for."""
    seen = live(conn, pool).get(pool, [])
    return Spent(used(conn, pool, windows, now), seen, blocked(conn, pool), paces(conn, pool))


def paces(conn: Connection, pool: str) -> dict[str, float]:
    t = quota_pace_table
    rows = conn.execute(sa.select(t.c.unit, t.c.tat).where(t.c.pool == pool))
    return {unit: float(tat) for unit, tat in rows}


def pace(
    conn: Connection,
    pool: str,
    before: Mapping[str, float],
    now: float,
    taken: Mapping[str, float],
    pacing: Pacing,
) -> None:
    """Move each paced unit's time on by what was taken (under the reservation's lock)."""
    rows = [
        {"pool": pool, "unit": unit, "tat": tat}
        for unit, tat in advanced(before, now, taken, pacing).items()
    ]
    if not rows:
        return
    stmt = _dialect(conn).insert(quota_pace_table)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["pool", "unit"], set_={"tat": stmt.excluded.tat}
        ),
        rows,
    )


def used(
    conn: Connection, pool: str, windows: Sequence[Window], now: float
) -> dict[tuple[float, str], float]:
    """Units spent per (seconds, unit) window, up to ``now``: whole minutes, the current one in."""
    t = quota_spend_table
    out: dict[tuple[float, str], float] = {}
    for w in windows:
        since = _minute(now - w.seconds + 60)  # the minute bucket `now - seconds` falls in is out
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0.0)).where(
                t.c.pool == pool, t.c.unit == w.unit, t.c.minute >= since
            )
        ).scalar_one()
        out[(w.seconds, w.unit)] = float(total)
    return out


def spend(conn: Connection, pool: str, now: float, units: Mapping[str, float]) -> None:
    rows = [
        {"pool": pool, "unit": u, "minute": _minute(now), "amount": a}
        for u, a in units.items()
        if a
    ]
    if not rows:
        return
    stmt = _dialect(conn).insert(quota_spend_table)
    total = quota_spend_table.c.amount + stmt.excluded.amount
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["pool", "unit", "minute"], set_={"amount": total}
        ),
        rows,
    )


def prune(conn: Connection, now: float) -> None:
    t = quota_spend_table
    conn.execute(sa.delete(t).where(t.c.minute < datetime.fromtimestamp(now, UTC) - KEEP))


def live(conn: Connection, pool: str | None = None) -> dict[str, list[Observation]]:
    """The vendor's figures per pool; a pool with only a wait asked for maps to []."""
    t = quota_live_table
    query = sa.select(t) if pool is None else sa.select(t).where(t.c.pool == pool)
    out: dict[str, list[Observation]] = {}
    b = quota_blocked_table
    waits = sa.select(b.c.pool) if pool is None else sa.select(b.c.pool).where(b.c.pool == pool)
    for (name,) in conn.execute(waits):  # a pool the vendor asked to wait has a say too
        out[name] = []
    for row in conn.execute(query).mappings():
        reset = row["reset_at"].timestamp() if row["reset_at"] is not None else None
        out.setdefault(row["pool"], []).append(
            Observation(
                row["seconds"], row["limit"], row["remaining"], row["unit"],
                row["observed_at"].timestamp(), reset, row["source"],
            )
        )  # fmt: skip
    return out


def blocked(conn: Connection, pool: str) -> tuple[float, str] | None:
    t = quota_blocked_table
    row = conn.execute(sa.select(t).where(t.c.pool == pool)).mappings().first()
    return (row["until"].timestamp(), row["why"]) if row is not None else None


def observe(
    conn: Connection, pool: str, seen: Sequence[Observation], block: tuple[float, str] | None
) -> None:
    """Keep the vendor's latest figures (newer ones replace older) and the wait it asked for."""
    dialect = _dialect(conn)
    if seen:
        rows = [
            {
                "pool": pool, "seconds": o.seconds, "unit": o.unit, "limit": o.limit,
                "remaining": o.remaining, "observed_at": datetime.fromtimestamp(o.at, UTC),
                "reset_at": datetime.fromtimestamp(o.reset_at, UTC) if o.reset_at else None,
                "source": o.source,
            }
            for o in seen
        ]  # fmt: skip
        stmt = dialect.insert(quota_live_table)
        columns = ("limit", "remaining", "observed_at", "reset_at", "source")
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["pool", "seconds", "unit"],
                set_={c: stmt.excluded[c] for c in columns},
                where=quota_live_table.c.observed_at <= stmt.excluded.observed_at,
            ),
            rows,
        )
    if block is not None:
        stmt = dialect.insert(quota_blocked_table)
        row = {"pool": pool, "until": datetime.fromtimestamp(block[0], UTC), "why": block[1]}
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["pool"],
                set_={"until": stmt.excluded.until, "why": stmt.excluded.why},
                where=quota_blocked_table.c.until < stmt.excluded.until,
            ),
            [row],
        )


Throttles = Mapping[str, tuple[str, float | None]]  # kr id → (reason, refresh seconds it can get)


def throttle(conn: Connection, at: datetime, throttled: Throttles) -> None:
    """Mark key results throttled; a state row is made for one never measured."""
    if not throttled:
        return
    rows = [
        {"kr_id": kr, "throttled_reason": why, "throttled_at": at, "throttled_refresh": refresh}
        for kr, (why, refresh) in throttled.items()
    ]
    stmt = _dialect(conn).insert(kr_state_table)
    columns = ("throttled_reason", "throttled_at", "throttled_refresh")
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["kr_id"], set_={c: stmt.excluded[c] for c in columns}
        ),
        rows,
    )


__all__ = [
    "KEEP",
    "Throttles",
    "blocked",
    "live",
    "lock",
    "observe",
    "prune",
    "spend",
    "throttle",
    "used",
]
