"""Running totals of vendor requests and errors per connection, for ``/metrics``.

Summed in the run's own transaction, so a Prometheus counter read from any
process (``serve`` as well as ``run``) only grows, without re-reading every run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connection_requests",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "connection_errors",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("errors", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connection_errors")
    op.drop_table("connection_requests")
