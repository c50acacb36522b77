"""Clips stay where they were made across platforms: one process serving a Slack workspace (the fake Slack,
the real slack-bolt app over HTTP) and a Discord guild (the fake Discord, the real discord.py client). Neither
reaches the other's clips by number or by words; a Slack private channel's clips show only there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.app import build_app
from bot.platforms.discord import DiscordAdapter
from bot.platforms.slack.adapter import SlackAdapter
from tests.bot.platforms.discord import harness as discord_harness
from tests.bot.platforms.discord.harness import EPHEMERAL, DiscordBot, text_of
from tests.bot.platforms.slack import harness as slack_harness
from tests.bot.platforms.slack.harness import SlackBot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.engine import FakeEngine
from tests.fakes.slack_server import FakeSlack
from tests.harness import make_settings

FAST = "steps:1 frames:8"
PRIVATE = "G0000002"  # a private channel of the workspace
MISSING = 9_999


class Both:
    def __init__(self, discord: DiscordBot, slack: SlackBot) -> None:
        self.discord, self.slack = discord, slack
        self._triggers = 0

    async def slack_says(self, command: str, text: str, channel: str = slack_harness.CHANNEL) -> str:
        """A Slack slash command; the text of its private answer."""
        self._triggers += 1
        trigger = f"t-{self._triggers}"
        status, body, _ = await self.slack.command(command, text, trigger_id=trigger, channel=channel)
        assert status == 200, body
        await self.slack.fake.wait_for(lambda: self.slack.fake.responses_for(trigger))
        (answer,) = self.slack.fake.responses_for(trigger)
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    async def discord_says(self, name: str, **options: object) -> str:
        answer = await self.discord.answer(await self.discord.command(name, options))
        assert int(answer.get("flags") or 0) & EPHEMERAL
        return text_of(answer)


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[Both]:
    fake_discord, fake_slack = await FakeDiscord().start(), FakeSlack()
    await fake_slack.start()
    env = {**discord_harness.environment(fake_discord, tmp_path), **slack_harness.environment(fake_slack, tmp_path)}
    settings = make_settings(tmp_path, **env)
    app = build_app(settings, engine=FakeEngine())
    await app.start()
    discord = DiscordAdapter(app.service, settings)
    slack = SlackAdapter(app.service, settings, host="127.0.0.1")
    app.service.add_adapter(discord)
    app.service.add_adapter(slack)
    await discord.start()
    await slack.start()
    running = Both(DiscordBot(app, discord, fake_discord), SlackBot(app, slack, fake_slack, aiohttp.ClientSession()))
    try:
        yield running
    finally:
        await running.slack.http.close()
        await slack.close()
        await discord.close()
        await app.stop(grace_s=5)
        await fake_slack.close()
        await fake_discord.close()


def as_missing(text: str, job_id: int) -> str:
    return text.replace(f"#{job_id}", "#N")


async def test_a_slack_workspace_and_a_discord_guild_see_only_their_own_clips(both: Both) -> None:
    app = both.discord.app
    await both.discord.answer(
        await both.discord.command("animate", {"prompt": "walrus dance", "steps": 1, "frames": 8})
    )
    await both.discord.clip_posted(1)
    status, _, _ = await both.slack.command("/animate", f"otter in a river {FAST}", trigger_id="make-1")
    assert status == 200
    status, _, _ = await both.slack.command("/animate", f"otter secret {FAST}", trigger_id="make-2", channel=PRIVATE)
    assert status == 200
    await both.slack.fake.wait_for(lambda: sum(u.shared for u in both.slack.fake.uploads.values()) == 2, timeout=40)
    await app.service.wait_idle()
    walrus, otter, secret = (app.repo.job(i) for i in (1, 2, 3))
    assert walrus is not None and walrus.platform == "discord"
    assert otter is not None and otter.platform == "slack" and otter.private_channel is None
    assert secret is not None and secret.private_channel == PRIVATE

    # Slack asks for Discord's clip: what a missing clip gets, and nothing of it.
    shown = await both.slack_says("/animate-show", "1")
    assert as_missing(shown, 1) == as_missing(await both.slack_says("/animate-show", str(MISSING)), MISSING)
    searched = await both.slack_says("/animate-history", "walrus")
    assert searched.replace("walrus", "okapi") == await both.slack_says("/animate-history", "okapi")
    assert "walrus" not in await both.slack_says("/animate-queue", "")
    assert "walrus" not in await both.slack_says("/animate-review", "1")
    cancelled = await both.slack_says("/animate-cancel", "1")
    assert as_missing(cancelled, 1) == as_missing(await both.slack_says("/animate-cancel", str(MISSING)), MISSING)

    # Discord asks for Slack's clips: the same.
    for job_id in (2, 3):
        shown = await both.discord_says("animate-show", job=job_id)
        assert as_missing(shown, job_id) == as_missing(await both.discord_says("animate-show", job=MISSING), MISSING)
    found = await both.discord_says("animate-history", search="otter")
    assert found.replace("otter", "okapi") == await both.discord_says("animate-history", search="okapi")

    # In the workspace, the private channel's clip shows only there.
    public = await both.slack_says("/animate-history", "otter")
    assert "otter in a river" in public and "secret" not in public
    assert "there is no clip #3" in await both.slack_says("/animate-show", "3")
    assert "otter secret" in await both.slack_says("/animate-history", "otter", channel=PRIVATE)
    assert app.repo.count_status("queued", "running", "succeeded", "failed", "cancelled") == 3
