"""Running totals per connection: vendor requests, and failed queries by error kind.

Added from each run's summary in the run's own transaction, so every process
reading the store (``run``, ``serve``) sees counters that only grow, as
Prometheus counters must, without summing every stored run at each scrape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from okrsync.store.tables import connection_errors_table, connection_requests_table


@dataclass(frozen=True)
class Totals:
    requests: dict[str, int] = field(default_factory=dict)  # connection → requests
    errors: dict[tuple[str, str], int] = field(default_factory=dict)  # (connection, kind) → n


def add(conn: Connection, connections: Mapping[str, Any]) -> None:
    """Add a run summary's ``connections`` section: {name: {calls, error_kinds}}."""
    requests = [
        {"connection": name, "requests": int(stats.get("calls", 0))}
        for name, stats in connections.items()
    ]
    errors = [
        {"connection": name, "kind": kind, "errors": int(n)}
        for name, stats in connections.items()
        for kind, n in (stats.get("error_kinds") or {}).items()
        if n
    ]
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    if requests:
        stmt = dialect.insert(connection_requests_table)
        total = connection_requests_table.c.requests + stmt.excluded.requests
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["connection"], set_={"requests": total}),
            requests,
        )
    if errors:
        stmt = dialect.insert(connection_errors_table)
        total = connection_errors_table.c.errors + stmt.excluded.errors
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["connection", "kind"], set_={"errors": total}
            ),
            errors,
        )


def read(conn: Connection) -> Totals:
    requests = {
        row.connection: int(row.requests)
        for row in conn.execute(sa.select(connection_requests_table))
    }
    errors = {
        (row.connection, row.kind): int(row.errors)
        for row in conn.execute(sa.select(connection_errors_table))
    }
    return Totals(requests, errors)


__all__ = ["Totals", "add", "read"]
