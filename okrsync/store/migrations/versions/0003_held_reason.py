"""Why a held value was held, kept beside it for ``okrsync hold list`` and status.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kr_state") as batch:  # SQLite alters through a copy
        batch.add_column(sa.Column("held_reason", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("kr_state") as batch:
        batch.drop_column("held_reason")
