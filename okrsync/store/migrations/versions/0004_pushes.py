"""Pushes into OKR tools: every attempt, and the last value each destination item accepted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "pushes",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("kr_id", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _when("measured_at", nullable=False),
        sa.Column("run_id", _ID),
        _when("attempted_at", nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("error", sa.Text()),
        sa.Column("receipt", sa.Text()),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.CheckConstraint("outcome IN ('ok', 'error')", name="ck_pushes_outcome"),
    )
    op.create_index("ix_pushes_kr_id_attempted_at", "pushes", ["kr_id", "attempted_at"])
    op.create_table(
        "push_state",
        sa.Column("destination", sa.String(100), primary_key=True),
        sa.Column("item", sa.String(500), primary_key=True),
        sa.Column("kr_id", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),  # the last value the tool accepted
        _when("measured_at", nullable=False),
        _when("accepted_at", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("push_state")
    op.drop_index("ix_pushes_kr_id_attempted_at", table_name="pushes")
    op.drop_table("pushes")
