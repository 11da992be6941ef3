"""Graded cycles: their frozen final values and scores, and the reflection report.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "graded_cycles",
        sa.Column("cycle", sa.String(100), primary_key=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("graded_by", sa.Text(), nullable=False),
        sa.Column("grades", sa.Text(), nullable=False),  # JSON: the frozen scores (SPEC §7)
        sa.Column("report", sa.Text(), nullable=False),  # JSON: the reflection report's message
    )


def downgrade() -> None:
    op.drop_table("graded_cycles")
