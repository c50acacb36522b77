"""Settings: .env.example is complete and parses; secrets never show."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from bot.settings import DEPRECATED_OWNER_NAMES, Settings
from tests.harness import REPO

ROOT = REPO


def test_env_example_lists_every_setting_and_parses(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.M))
    deprecated = {old for _, old, _ in DEPRECATED_OWNER_NAMES}  # named in a comment, not as settings
    aliases = {field.alias for field in Settings.model_fields.values()} - deprecated
    assert aliases <= listed, f"missing from .env.example: {sorted(aliases - listed)}"
    for name in aliases:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(text)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.pipeline == "real" and settings.max_per_hour == 20
    assert not settings.discord_enabled and not settings.slack_enabled  # blank tokens mean "off"
    assert settings.discord_api_base_url is None and settings.device is None


def test_secrets_are_hidden_and_admin_ids_are_qualified() -> None:
    settings = Settings(
        DISCORD_TOKEN="discord-secret-value",
        SLACK_BOT_TOKEN="xoxb-secret-value",
        SLACK_SIGNING_SECRET="signing-secret-value",
        ANIMATEBOT_ADMIN_IDS="alice, slack:U1",
        DISCORD_ADMIN_USER_IDS="42",
        DISCORD_ADMIN_ROLE_IDS="7,8",
    )  # type: ignore[call-arg]
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("discord-secret-value", "xoxb-secret-value", "signing-secret-value"):
        assert secret not in shown
    assert settings.owner_user_keys() == {"console:alice", "slack:U1", "discord:42"}
    assert settings.admin_role_keys() == {"discord:7", "discord:8"}


def test_owner_settings_and_their_deprecated_admin_names(caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.WARNING, logger="animatebot.settings"):
        new = Settings(_env_file=None, ANIMATEBOT_OWNER_IDS="alice", DISCORD_OWNER_USER_IDS="42",
                       SLACK_OWNER_USER_IDS="U1")  # fmt: skip
    assert new.owner_user_keys() == {"console:alice", "discord:42", "slack:U1"}
    assert "deprecated" not in caplog.text

    with caplog.at_level(logging.WARNING, logger="animatebot.settings"):
        old = Settings(_env_file=None, ANIMATEBOT_ADMIN_IDS="bob", DISCORD_ADMIN_USER_IDS="43",
                       SLACK_ADMIN_USER_IDS="U2", DISCORD_OWNER_USER_IDS="44")  # fmt: skip
    assert old.owner_user_keys() == {"console:bob", "discord:43", "discord:44", "slack:U2"}
    for old_name, new_name in (("ANIMATEBOT_ADMIN_IDS", "ANIMATEBOT_OWNER_IDS"),
                               ("DISCORD_ADMIN_USER_IDS", "DISCORD_OWNER_USER_IDS"),
                               ("SLACK_ADMIN_USER_IDS", "SLACK_OWNER_USER_IDS")):  # fmt: skip
        assert (
            f"{old_name} is deprecated and will be removed in the next release: rename it to {new_name}" in caplog.text
        )
