"""Where the bot may be used, on Discord: direct messages (off by default) and the allowed servers, through the
real discord.py client against the local fake Discord."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from storage.scope import EVERYWHERE
from tests.bot.platforms.discord.harness import EPHEMERAL, DiscordBot, settings_for, start_bot, stop_bot, text_of
from tests.fakes.discord_server import GUILD_ID, USER_ID, FakeDiscord, Person, _user

DM_CHANNEL_ID = 900_000_000_000_000_900
OTHER_GUILD = 900_000_000_000_000_011  # in the bot when it connects, not allowed
OTHER_CHANNEL = 900_000_000_000_000_021
NEW_GUILD = 900_000_000_000_000_012  # someone adds the bot while it runs
FAST = {"steps": 1, "frames": 8}


def open_dm(fake: FakeDiscord) -> int:
    fake.add_channel({"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [_user(USER_ID, "alice")]})
    return DM_CHANNEL_ID


async def test_a_direct_message_animate_answers_privately_and_writes_no_row(bot: DiscordBot) -> None:
    channel = open_dm(bot.fake)
    callback = await bot.acked(await bot.command("animate", {"prompt": "a cat", **FAST}, channel_id=channel))
    assert callback["type"] == 4 and callback["data"]["flags"] & EPHEMERAL
    text = text_of(callback["data"])
    assert "does not take direct messages" in text and "channel of a server" in text and "\n" not in text
    help_answer = await bot.acked(await bot.command("animate-help", channel_id=channel))
    assert "does not take direct messages" in text_of(help_answer["data"])  # any command, not only /animate
    assert bot.app.repo.history(EVERYWHERE, limit=5) == [] and bot.app.repo.audit_log() == []
    assert not bot.fake.find("POST", r"/webhooks/.*") and not bot.fake.find("POST", r"/channels/.*")


async def test_direct_messages_on_take_a_clip_within_the_daily_quota(fake: FakeDiscord, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path, ANIMATEBOT_DIRECT_MESSAGES="on", ANIMATEBOT_DM_DAILY_PER_USER="1")
    bot = await start_bot(settings, fake)
    try:
        channel = open_dm(fake)
        accepted = await bot.acked(await bot.command("animate", {"prompt": "a cat", **FAST}, channel_id=channel))
        assert accepted == {"type": 5}  # public "thinking…": the command goes ahead
        await bot.clip_posted()
        refused = await bot.acked(await bot.command("animate", {"prompt": "a dog", **FAST}, channel_id=channel))
        assert refused["data"]["flags"] & EPHEMERAL
        assert "daily quota for direct messages (1 clips per 24 h" in text_of(refused["data"])
        (job,) = bot.app.repo.history(EVERYWHERE, limit=5)
        assert job.channel_id == str(channel) and job.workspace_id == ""
        # In the server, the same person is not held back by the DM quota.
        in_server = await bot.acked(await bot.command("animate", {"prompt": "a fox", **FAST}, person=Person()))
        assert in_server == {"type": 5}
        await bot.clip_posted(2)
    finally:
        await stop_bot(bot)


async def test_the_bot_leaves_servers_not_allowed_and_refuses_commands_there(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="animatebot.discord")
    fake.ready_guilds = [GUILD_ID, OTHER_GUILD]
    fake.add_channel({"id": str(OTHER_CHANNEL), "type": 0, "guild_id": str(OTHER_GUILD), "name": "general"})
    bot = await start_bot(settings_for(fake, tmp_path, ANIMATEBOT_ALLOWED_SERVERS=f"{GUILD_ID}, T0000001"), fake)
    try:
        await fake.wait_for(lambda: OTHER_GUILD in fake.left_guilds)  # at ready
        await fake.join_guild(NEW_GUILD)
        await fake.wait_for(lambda: NEW_GUILD in fake.left_guilds)  # on join
        # A command that arrives from a server not allowed (say, before the leave went through) is refused.
        elsewhere = await bot.command("animate", {"prompt": "a cat", **FAST}, channel_id=OTHER_CHANNEL)
        refused = await bot.acked(elsewhere)
        assert refused["type"] == 4 and refused["data"]["flags"] & EPHEMERAL
        assert "not available in this server" in text_of(refused["data"])
        assert bot.app.repo.history(EVERYWHERE, limit=5) == [] and bot.app.repo.audit_log() == []
        await fake.join_guild(GUILD_ID, "the allowed server")  # joining an allowed server again: it stays
        assert await bot.acked(await bot.command("animate", {"prompt": "a fox", **FAST})) == {"type": 5}
        await bot.clip_posted()
    finally:
        await stop_bot(bot)
    assert sorted(fake.left_guilds) == [OTHER_GUILD, NEW_GUILD]
    leaving = [r.getMessage() for r in caplog.records if "leaving the Discord server" in r.getMessage()]
    assert len(leaving) == 2 and str(OTHER_GUILD) in leaving[0] and "ANIMATEBOT_ALLOWED_SERVERS" in leaving[0]
