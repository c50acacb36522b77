"""Presets in the database (SQLite and PostgreSQL): a person's and a server's, the default, one server never
reaching another's; migration 0010_presets up and down."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from storage.db import Database, alembic_config, current_revision, upgrade
from storage.models import Tenant
from storage.presets import SERVER, PresetStore, SavedPreset

A = Tenant("discord", "guild-a")
B = Tenant("discord", "guild-b")


def test_presets_are_per_person_and_server_and_stay_in_their_server(db: Database) -> None:
    store = PresetStore(db)
    assert store.save(A, "discord:alice", "windy", "motion:pan-left frames:8", "discord:alice")
    assert not store.save(A, "discord:alice", "windy", "frames:16", "discord:alice")  # replaced
    assert store.save(A, SERVER, "windy", "steps:8", "discord:boss")
    assert store.save(A, SERVER, "team", "steps:8", "discord:boss")
    assert store.find(A, "discord:alice", "windy") == SavedPreset("windy", "frames:16", server=False)
    assert store.find(A, "discord:bob", "windy") == SavedPreset("windy", "steps:8", server=True)
    assert [p.name for p in store.listed(A, "discord:alice")] == ["windy", "team", "windy"]
    assert store.find(B, "discord:alice", "windy") is None and store.listed(B, "discord:alice") == []
    assert not store.delete(B, "discord:alice", "windy") and not store.delete(B, SERVER, "team")

    store.set_default(A, "discord:alice", "team")
    assert store.default_name(A, "discord:alice") == "team" and store.default_name(B, "discord:alice") is None
    assert store.starting_tokens(A, "discord:alice", None) == ("steps:8", None)
    assert store.starting_tokens(B, "discord:alice", None) == ("", None)
    assert store.starting_tokens(B, "discord:alice", "team") == ("", "team")
    store.set_default(A, "discord:alice", None)
    assert store.starting_tokens(A, "discord:alice", None) == ("", None)
    assert store.delete(A, "discord:alice", "windy") and not store.delete(A, "discord:alice", "windy")
    assert store.find(A, "discord:alice", "windy") == SavedPreset("windy", "steps:8", server=True)


def test_migration_0010_adds_the_tables_and_goes_back(db: Database) -> None:
    assert {"presets", "preset_defaults"} <= set(inspect(db.engine).get_table_names())
    config = alembic_config(db.engine.url.render_as_string(hide_password=False))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009_board")
    assert not {"presets", "preset_defaults"} & set(inspect(db.engine).get_table_names())
    upgrade(db.engine)
    assert current_revision(db.engine) == "0011_variants"  # the head: 0010_presets and what comes after it
