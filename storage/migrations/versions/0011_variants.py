"""variants: a job may be a set of takes made in one pass, and a server may choose how many by default

``jobs.variant_count`` (1 for every existing job) is how many times the job counts in the limits and
quotas; ``jobs.variants`` keeps each take's seed, file, size and safety verdict once made;
``server_rules.default_variants`` is a server admin's default for ``variants:``.

Revision ID: 0011_variants
Revises: 0010_presets
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_variants"
down_revision = "0010_presets"  # re-chained at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_count", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("variants", sa.JSON(), nullable=True))
    with op.batch_alter_table("server_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_variants", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("server_rules", schema=None) as batch_op:
        batch_op.drop_column("default_variants")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("variants")
        batch_op.drop_column("variant_count")
