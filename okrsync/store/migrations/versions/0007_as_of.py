"""The instant a value describes (``as_of``) beside when it was measured, and backfilled points.

A key result with ``settle`` is measured as of ``now - settle``; ``okrsync
backfill`` stores values of past days. ``measurements.as_of`` (NULL: the same
as ``measured_at``) and ``measurements.backfilled`` keep both; ``kr_state.as_of``
is the as-of of the last good value, shown beside it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("as_of", sa.DateTime(timezone=True)))
        batch.add_column(
            sa.Column("backfilled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("kr_state") as batch:
        batch.add_column(sa.Column("as_of", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("kr_state") as batch:
        batch.drop_column("as_of")
    with op.batch_alter_table("measurements") as batch:
        batch.drop_column("backfilled")
        batch.drop_column("as_of")
