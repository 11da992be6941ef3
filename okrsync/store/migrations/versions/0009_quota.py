"""Vendor quotas: what every okrsync process spent, what the vendor said, who is throttled.

``quota_spend`` holds units spent per pool, unit and minute (reservations and
their settlement), so processes sharing a store share one budget;
``quota_live`` the vendor's own last figures per window; ``quota_pace`` where
each paced unit's earned credit stands; ``quota_blocked`` a wait the vendor
asked for. ``kr_state.throttled_*``: why the last run did not
measure a key result, and the refresh it can get.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_spend",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("unit", sa.String(16), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("amount", sa.Float(), nullable=False),
    )
    op.create_table(
        "quota_live",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("seconds", sa.Float(), primary_key=True),
        sa.Column("unit", sa.String(16), primary_key=True),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("remaining", sa.Float(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reset_at", sa.DateTime(timezone=True)),
        sa.Column("source", sa.Text(), nullable=False),
    )
    op.create_table(
        "quota_pace",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("unit", sa.String(16), primary_key=True),
        sa.Column("tat", sa.Float(), nullable=False),
    )
    op.create_table(
        "quota_blocked",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
    )
    with op.batch_alter_table("kr_state") as batch:
        batch.add_column(sa.Column("throttled_reason", sa.Text()))
        batch.add_column(sa.Column("throttled_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("throttled_refresh", sa.Float()))  # seconds it can get


def downgrade() -> None:
    with op.batch_alter_table("kr_state") as batch:
        batch.drop_column("throttled_refresh")
        batch.drop_column("throttled_at")
        batch.drop_column("throttled_reason")
    op.drop_table("quota_blocked")
    op.drop_table("quota_pace")
    op.drop_table("quota_live")
    op.drop_table("quota_spend")
