"""tenants: bans and block rules belong to a server or (both empty) to every server; a server's own base
model, limits and pause; the audit log names the server an action was taken in

Existing rows keep their meaning: every ban and block rule made before this revision was made for all
servers at once, so they become global (the owners'); the rows already kept per server keep their server.

Revision ID: 0006_tenants
Revises: 0005
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tenants"
down_revision = "0005"  # re-chained at merge
branch_labels = None
depends_on = None

_UTC = sa.DateTime(timezone=True)


def _server_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("platform", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("workspace_id", sa.String(length=64), nullable=False, server_default=""),
    ]


def upgrade() -> None:
    # bans: the key grows by the server. A new table and a copy: the same steps on SQLite and PostgreSQL,
    # and no sequence to carry (the key is the user).
    op.create_table(
        "bans_0006",
        sa.Column("user_key", sa.String(length=100), nullable=False),
        *_server_columns(),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("banned_by", sa.String(length=100), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("user_key", "platform", "workspace_id"),
    )
    op.execute(
        "INSERT INTO bans_0006 (user_key, platform, workspace_id, reason, banned_by, at) "
        "SELECT user_key, '', '', reason, banned_by, at FROM bans"
    )
    op.drop_table("bans")
    op.rename_table("bans_0006", "bans")

    # block rules: the pattern is unique per server. The old constraint has no name of ours: PostgreSQL
    # named it, SQLite did not (batch mode names it through the convention to drop it while copying).
    old_unique = "block_rules_pattern_key" if op.get_bind().dialect.name == "postgresql" else "uq_block_rules_pattern"
    with op.batch_alter_table(
        "block_rules", naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"}
    ) as batch_op:
        for column in _server_columns():
            batch_op.add_column(column)
        batch_op.drop_constraint(old_unique, type_="unique")
        batch_op.create_unique_constraint("uq_block_rules_server_pattern", ["platform", "workspace_id", "pattern"])

    with op.batch_alter_table("server_rules") as batch_op:
        batch_op.add_column(sa.Column("base_model", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("limits", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("audit_log") as batch_op:
        for column in _server_columns():
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("workspace_id")
        batch_op.drop_column("platform")
    with op.batch_alter_table("server_rules") as batch_op:
        batch_op.drop_column("paused")
        batch_op.drop_column("limits")
        batch_op.drop_column("base_model")
    # A server's rules and bans have no place in the old schema: only the global ones go back.
    op.execute("DELETE FROM block_rules WHERE platform <> '' OR workspace_id <> ''")
    with op.batch_alter_table("block_rules") as batch_op:
        batch_op.drop_constraint("uq_block_rules_server_pattern", type_="unique")
        batch_op.drop_column("workspace_id")
        batch_op.drop_column("platform")
        batch_op.create_unique_constraint("block_rules_pattern_key", ["pattern"])
    op.create_table(
        "bans_0005",
        sa.Column("user_key", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("banned_by", sa.String(length=100), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("user_key"),
    )
    op.execute(
        "INSERT INTO bans_0005 (user_key, reason, banned_by, at) "
        "SELECT user_key, reason, banned_by, at FROM bans WHERE platform = '' AND workspace_id = ''"
    )
    op.drop_table("bans")
    op.rename_table("bans_0005", "bans")
