"""The first schema: runs, measurements and kr_state.

Written out in full rather than built from okrsync.store.database's tables, so this
revision stays what it was when the store grows; tests compare the result with
the live tables to catch drift.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", _ID, primary_key=True),
        _when("started_at", nullable=False),
        _when("finished_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'partial', 'failed')", name="ck_runs_status"),
    )
    op.create_table(
        "measurements",
        sa.Column("id", _ID, primary_key=True),
        sa.Column(
            "run_id",
            _ID,
            sa.ForeignKey("runs.id", ondelete="CASCADE", name="fk_measurements_run_id_runs"),
            nullable=False,
        ),
        sa.Column("kr_id", sa.String(100), nullable=False),
        _when("measured_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("error", sa.Text()),
        sa.Column("connection", sa.Text()),
        sa.Column("query", sa.Text()),
        sa.Column("raw", sa.Text()),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'error', 'held')", name="ck_measurements_status"),
    )
    op.create_index("ix_measurements_kr_id_measured_at", "measurements", ["kr_id", "measured_at"])
    op.create_index("ix_measurements_run_id", "measurements", ["run_id"])
    op.create_table(
        "kr_state",
        sa.Column("kr_id", sa.String(100), primary_key=True),
        sa.Column("value", sa.Float()),
        _when("measured_at"),
        _when("last_attempt_at"),
        sa.Column("last_status", sa.String(16)),
        sa.Column("last_error_kind", sa.String(32)),
        sa.Column("last_error", sa.Text()),
        sa.Column("held_value", sa.Float()),
        _when("held_at"),
        sa.Column(
            "last_run_id",
            _ID,
            sa.ForeignKey("runs.id", ondelete="SET NULL", name="fk_kr_state_last_run_id_runs"),
        ),
        sa.Column("connection", sa.Text()),
        sa.Column("query", sa.Text()),
        sa.CheckConstraint(
            "last_status IN ('ok', 'error', 'held')", name="ck_kr_state_last_status"
        ),
    )


def downgrade() -> None:
    op.drop_table("kr_state")
    op.drop_table("measurements")
    op.drop_table("runs")
