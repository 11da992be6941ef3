"""The store's tables (SQLAlchemy Core); the migrations create exactly these.

Kept apart from :mod:`okrsync.store.database` so the schema reads on one page;
``tests/test_store.py`` checks the metadata and the migrations never drift.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Dialect

from okrsync.domain.records import check_aware

SCHEMA_HEAD = "0009"  # the newest migration; tests check it against the scripts


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC and always returns aware UTC: SQLite keeps no offset of its own."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        check_aware("datetime", value)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Mirrors migrations/versions/*; tests/test_store.py checks the two never drift.
metadata = sa.MetaData(
    naming_convention={"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


runs_table = sa.Table(
    "runs",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger", sa.Text(), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),  # JSON
    sa.CheckConstraint("status IN ('ok', 'partial', 'failed')", name="ck_runs_status"),
)

measurements_table = sa.Table(
    "measurements",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("run_id", _ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kr_id", sa.String(100), nullable=False),
    sa.Column("measured_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("value", sa.Float()),
    sa.Column("error_kind", sa.String(32)),
    sa.Column("error", sa.Text()),
    sa.Column("connection", sa.Text()),
    sa.Column("query", sa.Text()),
    sa.Column("raw", sa.Text()),
    sa.Column("duration_ms", sa.Float(), nullable=False),
    sa.Column("calls", sa.Integer(), nullable=False),
    sa.Column("as_of", UtcDateTime()),  # 0007: the instant the value describes (NULL: measured_at)
    sa.Column("backfilled", sa.Boolean(), nullable=False, server_default=sa.false()),  # 0007
    sa.CheckConstraint("status IN ('ok', 'error', 'held')", name="ck_measurements_status"),
    sa.Index("ix_measurements_kr_id_measured_at", "kr_id", "measured_at"),
    sa.Index("ix_measurements_run_id", "run_id"),
)

kr_state_table = sa.Table(
    "kr_state",
    metadata,
    sa.Column("kr_id", sa.String(100), primary_key=True),
    sa.Column("value", sa.Float()),
    sa.Column("measured_at", UtcDateTime()),
    sa.Column("last_attempt_at", UtcDateTime()),
    sa.Column("last_status", sa.String(16)),
    sa.Column("last_error_kind", sa.String(32)),
    sa.Column("last_error", sa.Text()),
    sa.Column("held_value", sa.Float()),
    sa.Column("held_at", UtcDateTime()),
    sa.Column("last_run_id", _ID, sa.ForeignKey("runs.id", ondelete="SET NULL")),
    sa.Column("connection", sa.Text()),
    sa.Column("query", sa.Text()),
    sa.Column("held_reason", sa.Text()),  # 0003: added last, as the migration adds it
    sa.Column("as_of", UtcDateTime()),  # 0007: the as-of of the last good value
    sa.Column("throttled_reason", sa.Text()),  # 0009: why the last run did not measure it
    sa.Column("throttled_at", UtcDateTime()),
    sa.Column("throttled_refresh", sa.Float()),  # seconds: the refresh its quota allows
    sa.CheckConstraint("last_status IN ('ok', 'error', 'held')", name="ck_kr_state_last_status"),
)


initiatives_table = sa.Table(
    "initiatives",
    metadata,
    sa.Column("kr_id", sa.String(100), primary_key=True),
    sa.Column("issue", sa.String(100), primary_key=True),
    sa.Column("connection", sa.Text(), nullable=False),
    sa.Column("title", sa.Text()),
    sa.Column("done", sa.Integer()),
    sa.Column("total", sa.Integer()),
    sa.Column("status", sa.String(32)),
    sa.Column("measured_at", UtcDateTime()),  # of the last good reading
    sa.Column("checked_at", UtcDateTime(), nullable=False),
    sa.Column("error", sa.Text()),
)


pushes_table = sa.Table(  # 0004: every push attempt into an OKR tool
    "pushes",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("destination", sa.String(100), nullable=False),
    sa.Column("item", sa.Text(), nullable=False),
    sa.Column("kr_id", sa.String(100), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("measured_at", UtcDateTime(), nullable=False),
    sa.Column("run_id", _ID),
    sa.Column("attempted_at", UtcDateTime(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("error_kind", sa.String(32)),
    sa.Column("error", sa.Text()),
    sa.Column("receipt", sa.Text()),
    sa.Column("calls", sa.Integer(), nullable=False),
    sa.CheckConstraint("outcome IN ('ok', 'error')", name="ck_pushes_outcome"),
    sa.Index("ix_pushes_kr_id_attempted_at", "kr_id", "attempted_at"),
)

push_state_table = sa.Table(  # 0004: the last value each destination item accepted
    "push_state",
    metadata,
    sa.Column("destination", sa.String(100), primary_key=True),
    sa.Column("item", sa.String(500), primary_key=True),
    sa.Column("kr_id", sa.String(100), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("measured_at", UtcDateTime(), nullable=False),
    sa.Column("accepted_at", UtcDateTime(), nullable=False),
)


connection_requests_table = sa.Table(  # 0005: vendor requests per connection, summed
    "connection_requests",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("requests", sa.BigInteger(), nullable=False),
)

connection_errors_table = sa.Table(  # 0005: failed queries per connection and error kind
    "connection_errors",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("errors", sa.BigInteger(), nullable=False),
)

notices_table = sa.Table(  # 0006: every digest and alert, claimed before it is sent
    "notices",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("claimed_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("error", sa.Text()),
    sa.Column("receipt", sa.Text()),
    sa.Column("message", sa.Text(), nullable=False),
    sa.UniqueConstraint("channel", "key", name="uq_notices_channel_key"),
    sa.CheckConstraint("status IN ('sending', 'sent', 'failed')", name="ck_notices_status"),
)

channel_status_table = sa.Table(  # 0006: the status each channel last knew of a key result
    "channel_status",
    metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("kr_id", sa.String(100), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("since", UtcDateTime(), nullable=False),
)

graded_cycles_table = sa.Table(  # 0008: a graded cycle never changes again
    "graded_cycles",
    metadata,
    sa.Column("cycle", sa.String(100), primary_key=True),
    sa.Column("graded_at", UtcDateTime(), nullable=False),
    sa.Column("graded_by", sa.Text(), nullable=False),
    sa.Column("grades", sa.Text(), nullable=False),
    sa.Column("report", sa.Text(), nullable=False),
)

quota_spend_table = sa.Table(  # 0009: units spent per pool, unit and minute, by every process
    "quota_spend",
    metadata,
    sa.Column("pool", sa.String(100), primary_key=True),
    sa.Column("unit", sa.String(16), primary_key=True),
    sa.Column("minute", UtcDateTime(), primary_key=True),
    sa.Column("amount", sa.Float(), nullable=False),
)

quota_live_table = sa.Table(  # 0009: the vendor's own last figures, per window
    "quota_live",
    metadata,
    sa.Column("pool", sa.String(100), primary_key=True),
    sa.Column("seconds", sa.Float(), primary_key=True),
    sa.Column("unit", sa.String(16), primary_key=True),
    sa.Column("limit", sa.Float(), nullable=False),
    sa.Column("remaining", sa.Float(), nullable=False),
    sa.Column("observed_at", UtcDateTime(), nullable=False),
    sa.Column("reset_at", UtcDateTime()),
    sa.Column("source", sa.Text(), nullable=False),
)

quota_pace_table = sa.Table(  # 0009: where each paced unit's earned credit stands (GCRA's time)
    "quota_pace",
    metadata,
    sa.Column("pool", sa.String(100), primary_key=True),
    sa.Column("unit", sa.String(16), primary_key=True),
    sa.Column("tat", sa.Float(), nullable=False),
)

quota_blocked_table = sa.Table(  # 0009: a wait the vendor asked for (Retry-After)
    "quota_blocked",
    metadata,
    sa.Column("pool", sa.String(100), primary_key=True),
    sa.Column("until", UtcDateTime(), nullable=False),
    sa.Column("why", sa.Text(), nullable=False),
)


__all__ = [
    "SCHEMA_HEAD",
    "UtcDateTime",
    "channel_status_table",
    "check_aware",
    "connection_errors_table",
    "connection_requests_table",
    "graded_cycles_table",
    "initiatives_table",
    "kr_state_table",
    "measurements_table",
    "metadata",
    "notices_table",
    "push_state_table",
    "pushes_table",
    "quota_blocked_table",
    "quota_live_table",
    "quota_pace_table",
    "quota_spend_table",
    "runs_table",
]
