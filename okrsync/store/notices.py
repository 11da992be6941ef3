"""Notice rows of the store: each digest and alert claimed before it is sent, and its outcome.

A message is claimed by inserting its (channel, key) row; the unique key makes
the claim the one place two processes can race, so each message goes out at
most once per claim. A failed send is retried by later syncs (re-claimed with
a conditional update, so still by one process), up to ``MAX_ATTEMPTS``; a
claim whose process died mid-send is taken over after ``STALE_CLAIM``.
``channel_status`` holds the status each channel last knew per key result;
its updates are conditional too, so one status change makes one alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from okrsync.store.tables import channel_status_table, notices_table

MAX_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class Notice:
    id: int
    channel: str
    key: str
    kind: str
    status: str
    claimed_at: datetime
    sent_at: datetime | None
    attempts: int
    error: str | None
    receipt: str | None
    message: dict[str, Any]


def _notice(row: Any) -> Notice:
    values = dict(row)
    values["message"] = json.loads(values["message"])
    return Notice(**values)


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def claim(
    conn: Connection, channel: str, key: str, kind: str, message: dict[str, Any], now: datetime
) -> int | None:
    """The new row's id, or None when (channel, key) was claimed before (by anyone)."""
    stmt = (
        _dialect(conn)
        .insert(notices_table)
        .values(
            channel=channel,
            key=key,
            kind=kind,
            status="sending",
            claimed_at=now,
            attempts=0,
            message=json.dumps(message, ensure_ascii=False),
        )
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(notices_table.c.id)
    )
    found = conn.execute(stmt).scalar()
    return None if found is None else int(found)


def reclaim(conn: Connection, notice: Notice, now: datetime) -> bool:
    """Take a failed (or abandoned) notice for another attempt; False if another process did."""
    n = notices_table.c
    done = conn.execute(
        sa.update(notices_table)
        .where(n.id == notice.id, n.status == notice.status, n.claimed_at == notice.claimed_at)
        .values(status="sending", claimed_at=now)
    )
    return done.rowcount == 1


def finish(
    conn: Connection, notice_id: int, now: datetime, *, error: str | None, receipt: str | None
) -> None:
    n = notices_table.c
    conn.execute(
        sa.update(notices_table)
        .where(n.id == notice_id)
        .values(
            status="failed" if error else "sent",
            sent_at=None if error else now,
            attempts=n.attempts + 1,
            error=error,
            receipt=receipt,
        )
    )


def retryable(conn: Connection, channel: str, now: datetime) -> list[Notice]:
    """Failed notices with attempts left, and claims abandoned mid-send, oldest first."""
    n = notices_table.c
    query = (
        sa.select(notices_table)
        .where(
            n.channel == channel,
            n.attempts < MAX_ATTEMPTS,
            sa.or_(
                n.status == "failed",
                sa.and_(n.status == "sending", n.claimed_at < now - STALE_CLAIM),
            ),
        )
        .order_by(n.id)
    )
    return [_notice(r) for r in conn.execute(query).mappings()]


def latest(conn: Connection, channel: str, kind: str, *, sent_only: bool = True) -> Notice | None:
    n = notices_table.c
    query = sa.select(notices_table).where(n.channel == channel, n.kind == kind)
    if sent_only:
        query = query.where(n.status == "sent")
    row = conn.execute(query.order_by(n.id.desc()).limit(1)).mappings().first()
    return None if row is None else _notice(row)


def listed(conn: Connection, channel: str | None = None, limit: int = 50) -> list[Notice]:
    n = notices_table.c
    query = sa.select(notices_table)
    if channel is not None:
        query = query.where(n.channel == channel)
    rows = conn.execute(query.order_by(n.id.desc()).limit(limit)).mappings()
    return [_notice(r) for r in rows]


def statuses(conn: Connection, channel: str) -> dict[str, tuple[str, datetime]]:
    c = channel_status_table.c
    rows = conn.execute(sa.select(c.kr_id, c.status, c.since).where(c.channel == channel))
    return {kr_id: (status, since) for kr_id, status, since in rows}


def set_status(
    conn: Connection, channel: str, kr_id: str, old: str | None, new: str, now: datetime
) -> bool:
    """Record ``new`` if the channel still knew ``old``; False when another process did first."""
    c = channel_status_table.c
    if old is None:
        stmt = (
            _dialect(conn)
            .insert(channel_status_table)
            .values(channel=channel, kr_id=kr_id, status=new, since=now)
            .on_conflict_do_nothing(index_elements=["channel", "kr_id"])
        )
        return conn.execute(stmt).rowcount == 1
    done = conn.execute(
        sa.update(channel_status_table)
        .where(c.channel == channel, c.kr_id == kr_id, c.status == old)
        .values(status=new, since=now)
    )
    return done.rowcount == 1


__all__ = [
    "MAX_ATTEMPTS",
    "STALE_CLAIM",
    "Notice",
    "claim",
    "finish",
    "latest",
    "listed",
    "reclaim",
    "retryable",
    "set_status",
    "statuses",
]
