"""datasets: legal hold and retention policy

Revision ID: 20261201_0003
Revises: 20261125_0002
Create Date: 2026-12-01 23:50:00

A dataset under legal hold refuses snapshot expiry and orphan file removal. Its retention
policy says how old a snapshot must be before expiry may remove it, and how many to keep.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261201_0003"
down_revision = "20261125_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "datasets", sa.Column("legal_hold", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("datasets", sa.Column("legal_hold_reason", sa.Text(), nullable=True))
    op.add_column("datasets", sa.Column("legal_hold_by", sa.String(length=40), nullable=True))
    op.add_column("datasets", sa.Column("legal_hold_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("datasets", sa.Column("retention", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    for column in ("retention", "legal_hold_at", "legal_hold_by", "legal_hold_reason", "legal_hold"):
        op.drop_column("datasets", column)
