"""Every digest and alert a channel was sent, claimed before it is sent; what each channel last saw.

``notices`` has one row per (channel, key): inserting it is the claim, so a
message goes out once even with two processes on one store. ``channel_status``
keeps the status each channel last knew of each key result, for status-change
alerts that the clock causes too (a value going stale).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("claimed_at", nullable=False),
        _when("sent_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("receipt", sa.Text()),
        sa.Column("message", sa.Text(), nullable=False),  # JSON: the Message, to retry as sent
        sa.UniqueConstraint("channel", "key", name="uq_notices_channel_key"),
        sa.CheckConstraint("status IN ('sending', 'sent', 'failed')", name="ck_notices_status"),
    )
    op.create_table(
        "channel_status",
        sa.Column("channel", sa.String(100), primary_key=True),
        sa.Column("kr_id", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        _when("since", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_status")
    op.drop_table("notices")
