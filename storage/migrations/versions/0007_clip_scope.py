"""clip scope: where a private clip may be shown, a server's clips by index, and re-posts of clips

A clip made in a private channel or a DM is shown only there (``jobs.private_channel``); history
and search list one server's clips (``ix_jobs_server``); ``/animate-show`` records each re-post
(``reposts``) instead of overwriting the clip's own message id, so Delete finds every copy.
Existing clips stay visible on their own server only: their private column is empty (public),
as nothing recorded whether their channel was private.

Revision ID: 0007_clip_scope
Revises: 0005
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_clip_scope"
down_revision = "0006_tenants"  # re-chained at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("private_channel", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_jobs_server", ["platform", "workspace_id", "id"], unique=False)
    op.create_table(
        "reposts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reposts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reposts_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reposts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reposts_job_id"))
    op.drop_table("reposts")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_server")
        batch_op.drop_column("private_channel")
