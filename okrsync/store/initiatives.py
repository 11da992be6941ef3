"""Initiative rows of the store: the latest completion of each (key result, issue).

Only the latest reading is kept (the issue tracker holds the history); a failed
check keeps the last good numbers and records the error beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from okrsync.domain.records import InitiativeRecord
from okrsync.store.tables import initiatives_table

_GOOD = ("title", "done", "total", "status", "measured_at")


def upsert(conn: Connection, records: Sequence[InitiativeRecord]) -> None:
    """Good readings replace everything; a failed one only its error and check time."""
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    for good in (True, False):
        rows = [_row(r) for r in records if (r.error is None) == good]
        if not rows:
            continue
        stmt = dialect.insert(initiatives_table)
        columns = ("connection", "checked_at", "error", *(_GOOD if good else ()))
        update = {c: stmt.excluded[c] for c in columns}
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["kr_id", "issue"], set_=update), rows
        )


def read(conn: Connection) -> dict[str, list[InitiativeRecord]]:
    """Initiatives by key result id, each list in issue order."""
    query = sa.select(initiatives_table).order_by(
        initiatives_table.c.kr_id, initiatives_table.c.issue
    )
    out: dict[str, list[InitiativeRecord]] = {}
    for row in conn.execute(query).mappings():
        out.setdefault(row["kr_id"], []).append(InitiativeRecord(**dict(row)))
    return out


def _row(r: InitiativeRecord) -> dict[str, Any]:
    return {f.name: getattr(r, f.name) for f in fields(InitiativeRecord)}


__all__ = ["InitiativeRecord", "read", "upsert"]
