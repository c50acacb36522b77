"""Migration 0003 (up and down) and the moderation queries on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect

from storage.db import Database, current_revision, upgrade
from storage.models import GLOBAL, Job
from storage.moderation import ModerationStore
from storage.repository import Repository

TABLES = {"block_rules", "channel_rules", "channel_safety", "server_rules", "reports"}


def test_migration_adds_the_tables_and_job_columns_and_goes_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/m.db")
    tables = set(inspect(db.engine).get_table_names())
    assert tables >= TABLES
    columns = {c["name"] for c in inspect(db.engine).get_columns("jobs")}
    assert {"age_restricted", "safety_score", "safety_flagged", "safety_decision"} <= columns
    from alembic import command

    from storage.db import alembic_config

    config = alembic_config(db.engine.url.render_as_string(hide_password=False))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    upgrade(db.engine)
    assert current_revision(db.engine) not in (None, "0001")
    db.close()


def test_rules_policies_quotas_and_reports_round_trip(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/s.db")
    store, repo = ModerationStore(db), Repository(db)
    rule, created = store.add_block_rule("ass", "console:boss", GLOBAL)
    again, created_again = store.add_block_rule("ass", "console:boss", GLOBAL)
    assert created and not created_again and again.id == rule.id
    assert [r.pattern for r in store.block_rules(GLOBAL)] == ["ass"]
    assert store.remove_block_rule("ass", GLOBAL) and not store.remove_block_rule("ass", GLOBAL)

    assert store.add_channel_rules("discord", "G1", "deny", ["C1", "C2"], "discord:1") == 0
    assert store.add_channel_rules("discord", "G1", "allow", ["C3"], "discord:1") == 2  # one list per server
    assert [(r.channel_id, r.mode) for r in store.channel_rules("discord", "G1")] == [("C3", "allow")]
    assert store.channel_rules("discord", "G2") == []
    assert store.clear_channel_rules("discord", "G1") == 1

    store.set_channel_policy("slack", "T1", "C1", "spoiler", "slack:U1")
    store.set_channel_policy("slack", "T1", "C1", "allow", "slack:U1")
    assert store.channel_policy("slack", "T1", "C1") == "allow"
    store.set_channel_policy("slack", "T1", "C1", None, "slack:U1")
    assert store.channel_policy("slack", "T1", "C1") is None

    assert store.server_rules("discord", "G1") is None
    store.update_server_rules("discord", "G1", user_daily=3)
    row = store.update_server_rules("discord", "G1", roles=["55"])
    assert (row.user_daily, row.server_daily, row.roles) == (3, None, ["55"])

    now = datetime.now(UTC)
    for minutes in (5, 60 * 30):
        repo.add_job(Job(platform="discord", workspace_id="G1", user_key="discord:1", prompt="p", params={},
                         steps=1, frames=8, max_bytes=1, created_at=now - timedelta(minutes=minutes)))  # fmt: skip
    since = now - timedelta(hours=24)
    assert len(store.user_jobs_since("discord:1", since)) == 1
    assert len(store.server_jobs_since("discord", "G1", since)) == 1 and not store.server_jobs_since(
        "slack", "G1", since
    )

    report = store.add_report(1, "discord:2", "Bob", "spam", "https://x")
    assert [(r.id, r.job_id, r.reason, r.status) for r in store.open_reports(None)] == [(report.id, 1, "spam", "open")]
    db.close()


def test_the_rules_every_animate_reads_are_read_once_and_forgotten_after_a_change(tmp_path: Path) -> None:
    """Remembered until this process changes them: a row written behind its back is not seen (the bot is the
    one writer), one written through the store or the repository is seen at once."""
    db = Database(f"sqlite:///{tmp_path}/s.db")
    store, repo = ModerationStore(db), Repository(db)
    assert store.block_rules(GLOBAL) == [] and repo.ban_of("console:bob", GLOBAL) is None
    assert store.server_rules("discord", "G1") is None and store.channel_rules("discord", "G1") == []
    with db.engine.begin() as c:  # behind the store's back
        c.exec_driver_sql(
            "INSERT INTO bans (user_key, reason, banned_by, at) VALUES ('console:bob', 'x', 'y', '2026-01-01')"
        )
    assert repo.ban_of("console:bob", GLOBAL) is None  # remembered
    store.add_block_rule("ass", "console:boss", GLOBAL)
    assert [r.pattern for r in store.block_rules(GLOBAL)] == ["ass"]
    assert repo.ban_of("console:bob", GLOBAL) is not None  # every remembered row was dropped by the change
    repo.unban("console:bob", GLOBAL)
    assert repo.ban_of("console:bob", GLOBAL) is None
    repo.ban("console:carol", "spam", "console:boss", GLOBAL)
    assert repo.ban_of("console:carol", GLOBAL) is not None
    store.update_server_rules("discord", "G1", user_daily=3)
    assert store.server_rules("discord", "G1").user_daily == 3  # type: ignore[union-attr]
    store.add_channel_rules("discord", "G1", "deny", ["C1"], "discord:1")
    assert [r.channel_id for r in store.channel_rules("discord", "G1")] == ["C1"]
    store.set_channel_policy("discord", "G1", "C1", "spoiler", "discord:1")
    assert store.channel_policy("discord", "G1", "C1") == "spoiler"
    store.clear_channel_rules("discord", "G1")
    assert store.channel_rules("discord", "G1") == []
    db.close()
