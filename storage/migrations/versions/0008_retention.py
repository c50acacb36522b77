"""retention: when a job's clip and input still were removed from disk (ANIMATEBOT_KEEP_DAYS, `db prune`)

The row stays, with its recipe: a reroll still works from it, and history and show say "expired".

Revision ID: 0008_retention
Revises: 0005
Create Date: 2026-12-06 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_retention"
down_revision = "0007_clip_scope"  # re-chained at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("expired_at")
