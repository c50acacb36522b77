"""Where the bot may be used: the allowed servers and direct messages, as a rule and through the console."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.chat import Place
from bot.service import Where
from tests.fakes.engine import FakeEngine
from tests.harness import make_settings, start_bot

DISCORD_DM = Place("discord", "555", "", is_dm=True)
SLACK_DM = Place("slack", "D0001", "T0001", is_dm=True)
GUILD = Place("discord", "20", "10")
WORKSPACE = Place("slack", "C0001", "T0001")
CONSOLE = Place("console", "console")


def refusal(where: Where, place: Place) -> str | None:
    message = where.refusal(place)
    return None if message is None else message.text


def test_direct_messages_are_off_by_default_and_say_where_the_bot_works() -> None:
    where = Where()
    assert "does not take direct messages; use /animate in a channel of a server" in (refusal(where, DISCORD_DM) or "")
    assert "channel of a workspace" in (refusal(where, SLACK_DM) or "")
    assert refusal(where, GUILD) is None and refusal(where, WORKSPACE) is None and refusal(where, CONSOLE) is None


def test_allowed_servers_refuse_everywhere_else_but_the_console() -> None:
    where = Where(frozenset({"10"}), direct_messages=True)
    assert refusal(where, GUILD) is None
    assert "not available in this workspace" in (refusal(where, WORKSPACE) or "")
    assert "not available in this server" in (refusal(where, Place("discord", "21", "11")) or "")
    assert refusal(where, SLACK_DM) is not None  # a Slack DM belongs to its workspace, not allowed here
    assert refusal(where, DISCORD_DM) is None  # a Discord DM has no server; the DM setting decides
    assert refusal(where, CONSOLE) is None


@pytest.mark.parametrize(("value", "on"), [("off", False), ("on", True), ("", None)])
def test_settings_read_the_switches(tmp_path: Path, value: str, on: bool | None) -> None:
    extra = {"ANIMATEBOT_DIRECT_MESSAGES": value} if on is not None else {}
    settings = make_settings(tmp_path, ANIMATEBOT_ALLOWED_SERVERS=" 10, T0001 ;", **extra)
    assert settings.direct_messages is bool(on) and settings.allowed_servers == ("10", "T0001")
    assert settings.dm_daily_per_user == 10


async def test_the_console_works_whatever_servers_are_allowed(tmp_path: Path) -> None:
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_ALLOWED_SERVERS="10"), FakeEngine())
    try:
        assert "queued #1" in await bot.say("/animate a cat frames:8 steps:1")
        await bot.idle()
    finally:
        await bot.app.stop()
