"""queue indexes: each user's last start and recent submissions in one index lookup

The queue keeps its fairness order in memory and asks the database only about one user at a
time: when did they last start a job (fairness), and what did they submit in the last two
hours (the hourly limit). These two indexes answer both without scanning the user's history.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-29 10:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"  # re-chained at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_user_started", ["user_key", "started_at"], unique=False)
        batch_op.create_index("ix_jobs_user_created", ["user_key", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_user_created")
        batch_op.drop_index("ix_jobs_user_started")
