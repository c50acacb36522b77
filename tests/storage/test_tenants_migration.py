"""Migration 0006_tenants on a SQLite file made at 0005 with rows in it: today's bans and block rules
become global (the owners'), the rows kept per server keep their server, and the schema then matches
the models."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import Database, make_engine, upgrade
from storage.models import GLOBAL, Base, Tenant
from storage.moderation import ModerationStore
from storage.repository import Repository

AT = "2026-11-30 12:00:00.000000+00:00"


def _at_0005_with_rows(path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0005")
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO bans (user_key, reason, banned_by, at) VALUES ('discord:7', 'spam', 'x', :at)"),
                  {"at": AT})  # fmt: skip
        for pattern in ("nude", "/gore+/"):
            c.execute(sa.text("INSERT INTO block_rules (pattern, created_by, at) VALUES (:p, 'x', :at)"),
                      {"p": pattern, "at": AT})  # fmt: skip
        c.execute(sa.text("INSERT INTO server_rules (platform, workspace_id, user_daily, server_daily, roles, at) "
                          "VALUES ('discord', 'G1', 3, NULL, '[\"55\"]', :at)"), {"at": AT})  # fmt: skip
        c.execute(sa.text("INSERT INTO audit_log (at, actor_key, actor_name, action, detail, allowed) "
                          "VALUES (:at, 'discord:1', 'Ann', 'ban', 'user=7', 1)"), {"at": AT})  # fmt: skip
    return engine


def test_existing_rows_become_global_and_per_server_rows_keep_their_server(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = _at_0005_with_rows(path)
    upgrade(engine)  # to head, as the bot does at start

    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []

    db = Database(f"sqlite:///{path}")
    repo, store = Repository(db), ModerationStore(db)
    ban = repo.ban_of("discord:7", Tenant("discord", "G1"))
    assert ban is not None and ban.reason == "spam" and (ban.platform, ban.workspace_id) == ("", "")
    assert repo.ban_of("discord:7", Tenant("slack", "T1")) is not None  # global: everywhere
    assert [r.pattern for r in store.block_rules(GLOBAL)] == ["nude", "/gore+/"]
    assert [r.pattern for r in store.block_rules(Tenant("discord", "G9"))] == ["nude", "/gore+/"]
    row = store.server_rules("discord", "G1")
    assert row is not None and (row.user_daily, row.roles, row.base_model, row.limits, row.paused) == (
        3, ["55"], None, None, False
    )  # fmt: skip
    (entry,) = repo.audit_log()
    assert (entry.action, entry.platform, entry.workspace_id) == ("ban", "", "")

    # The same pattern may now be a rule of one server and of another, and of every server.
    _, created = store.add_block_rule("nude", "discord:1", Tenant("discord", "G1"))
    assert created
    _, again = store.add_block_rule("nude", "x", GLOBAL)
    assert not again
    db.close()


def test_downgrade_keeps_the_global_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = _at_0005_with_rows(path)
    upgrade(engine)
    db = Database(f"sqlite:///{path}")
    ModerationStore(db).add_block_rule("cat", "discord:1", Tenant("discord", "G1"))
    Repository(db).ban("discord:8", "", "discord:1", Tenant("discord", "G1"))
    db.close()

    from alembic import command

    from storage.db import alembic_config

    config = alembic_config(f"sqlite:///{path}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT user_key FROM bans")).scalars().all() == ["discord:7"]
        assert sorted(c.execute(sa.text("SELECT pattern FROM block_rules")).scalars()) == ["/gore+/", "nude"]
