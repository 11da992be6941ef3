"""Push rows of the store: every attempt, and what each destination item last accepted.

A push is due when a key result's good value differs from what its item last
accepted, so the pending set is never stored: a process killed between the
run's write and the push leaves the value un-accepted, and the next sync sends
it. Attempts and acceptances are written in one transaction per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from okrsync.domain.records import Accepted, PushRecord
from okrsync.store.tables import push_state_table, pushes_table

_PUSH_FIELDS = [f.name for f in fields(PushRecord)]


def record(conn: Connection, attempts: Sequence[PushRecord]) -> None:
    """Store the attempts; each accepted one becomes its item's last accepted value."""
    if not attempts:
        return
    conn.execute(
        sa.insert(pushes_table), [{n: getattr(a, n) for n in _PUSH_FIELDS} for a in attempts]
    )
    latest: dict[tuple[str, str], PushRecord] = {}
    for a in attempts:
        if a.outcome == "ok":
            latest[(a.destination, a.item)] = a
    if not latest:
        return
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(push_state_table)
    columns = ("kr_id", "value", "measured_at", "accepted_at")
    update = {c: stmt.excluded[c] for c in columns}
    rows = [
        {"destination": d, "item": i, "kr_id": a.kr_id, "value": a.value,
         "measured_at": a.measured_at, "accepted_at": a.attempted_at}
        for (d, i), a in latest.items()
    ]  # fmt: skip
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["destination", "item"], set_=update), rows
    )


def accepted(conn: Connection) -> dict[tuple[str, str], Accepted]:
    """(destination, item) → the last value it accepted."""
    rows = conn.execute(sa.select(push_state_table)).mappings()
    return {(r["destination"], r["item"]): Accepted(**dict(r)) for r in rows}


def latest(conn: Connection, kr_id: str | None = None) -> dict[tuple[str, str], PushRecord]:
    """(destination, item) → its newest attempt; of one key result when ``kr_id`` is given."""
    p = pushes_table.c
    newest = sa.select(p.destination, p.item, sa.func.max(p.id).label("id")).group_by(
        p.destination, p.item
    )
    if kr_id is not None:
        newest = newest.where(p.kr_id == kr_id)
    ids = newest.subquery()
    query = sa.select(pushes_table).join(ids, pushes_table.c.id == ids.c.id)
    found: dict[tuple[str, str], PushRecord] = {}
    for row in conn.execute(query).mappings():
        found[(row["destination"], row["item"])] = PushRecord(**{n: row[n] for n in _PUSH_FIELDS})
    return found


def history(conn: Connection, kr_id: str, limit: int = 20) -> list[PushRecord]:
    """A key result's attempts, newest first."""
    p = pushes_table.c
    query = sa.select(pushes_table).where(p.kr_id == kr_id).order_by(p.id.desc()).limit(limit)
    return [PushRecord(**{n: r[n] for n in _PUSH_FIELDS}) for r in conn.execute(query).mappings()]


__all__ = ["accepted", "history", "latest", "record"]
