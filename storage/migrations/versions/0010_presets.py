"""presets: saved /animate options, a person's or a server's, and each person's default one

``presets`` holds a name and its ``key:value`` tokens per server (``platform`` + ``workspace_id``), for one
person (``owner_key``) or, with ``owner_key`` empty, for the whole server; ``preset_defaults`` names the preset
a person's every /animate starts from, per server.

Revision ID: 0010_presets
Revises: 0009_board
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_presets"
down_revision = "0009_board"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "presets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("owner_key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "workspace_id", "owner_key", "name", name="uq_presets_server_owner_name"),
    )
    op.create_table(
        "preset_defaults",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("user_key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace_id", "user_key"),
    )


def downgrade() -> None:
    op.drop_table("preset_defaults")
    op.drop_table("presets")
