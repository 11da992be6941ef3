"""Initiatives: the issues and epics beside each key result, with their completion.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "initiatives",
        sa.Column("kr_id", sa.String(100), primary_key=True),
        sa.Column("issue", sa.String(100), primary_key=True),
        sa.Column("connection", sa.Text(), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("done", sa.Integer()),
        sa.Column("total", sa.Integer()),
        sa.Column("status", sa.String(32)),
        _when("measured_at"),
        _when("checked_at", nullable=False),
        sa.Column("error", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("initiatives")
