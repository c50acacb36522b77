"""the review board: used sign-in links, sessions, and the indexes its pages read by

A sign-in link is single use: its nonce is written when it is used (``board_links``). A session row
(``board_sessions``) holds a hash of the cookie, never the cookie. ``ix_jobs_server_user`` serves a
server's clips filtered by person; ``ix_votes_job_value`` a clip's tally without reading the votes.

Revision ID: 0009_board
Revises: 0008_retention
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_board"
down_revision = "0008_retention"  # re-chained at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_links",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_table(
        "board_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_key", sa.String(length=100), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("is_dm", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.Boolean(), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("board_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_board_sessions_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_server_user", ["platform", "workspace_id", "user_key", "id"], unique=False)
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.create_index("ix_votes_job_value", ["job_id", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index("ix_votes_job_value")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_server_user")
    with op.batch_alter_table("board_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_board_sessions_expires_at"))
    op.drop_table("board_sessions")
    op.drop_table("board_links")
