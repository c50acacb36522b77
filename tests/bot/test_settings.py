"""Settings: .env.example is complete and parses; secrets never show."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings
from tests.harness import REPO

ROOT = REPO


def test_env_example_lists_every_setting_and_parses(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.M))
    aliases = {field.alias for field in Settings.model_fields.values()}
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
    assert settings.admin_user_keys() == {"console:alice", "slack:U1", "discord:42"}
    assert settings.admin_role_keys() == {"discord:7", "discord:8"}
