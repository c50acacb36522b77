"""One process serving a Slack workspace and a Discord guild: a workspace admin of Slack rules that
workspace only, a guild admin that guild only. Each reaches for the other's job, report and rule and gets
what a missing one gets; each one's block rule refuses prompts on its own server only. The real slack-bolt
and discord.py adapters against the local fake Slack and fake Discord."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import App, build_app
from bot.platforms.discord import DiscordAdapter
from bot.platforms.slack.adapter import SlackAdapter
from storage.models import JobStatus, Tenant
from tests.bot.platforms.discord import harness as discord_harness
from tests.bot.platforms.discord.test_moderation_discord import Bot as DiscordBot
from tests.bot.platforms.discord.test_moderation_discord import text_of
from tests.bot.platforms.slack import harness as slack_harness
from tests.bot.platforms.slack.harness import SlackBot
from tests.fakes.discord_server import GUILD_ID, FakeDiscord, Person
from tests.fakes.engine import FakeEngine
from tests.fakes.slack_server import TEAM_ID, FakeSlack

FAST = {"steps": 1, "frames": 8}
SLACK_ADMIN, SLACK_MEMBER = "UADMIN001", "UMEMBER01"
GUILD_ADMIN, GUILD_MEMBER = Person(user_id=71, name="ann", manage_guild=True), Person(user_id=73, name="amy")
WORKSPACE, GUILD = Tenant("slack", TEAM_ID), Tenant("discord", str(GUILD_ID))
_triggers = itertools.count(1)


class Both:
    def __init__(self, app: App, slack: SlackBot, discord: DiscordBot) -> None:
        self.app, self.slack, self.discord = app, slack, discord

    async def in_slack(self, line: str, user: str = SLACK_ADMIN) -> str:
        """A slash command in the workspace; its answer (private, or posted in the channel)."""
        command, _, text = line.partition(" ")
        trigger, fake = f"t-{next(_triggers)}", self.slack.fake
        posted = len(fake.calls_to("chat.postMessage"))
        status, body, _ = await self.slack.command(command, text, user=user, trigger_id=trigger)
        assert status == 200
        if body:  # a refusal known before the acknowledgement comes with it
            return body
        await fake.wait_for(lambda: fake.responses_for(trigger) or len(fake.calls_to("chat.postMessage")) > posted)
        if fake.responses_for(trigger):
            return str(fake.responses_for(trigger)[0].get("text", ""))
        return str(fake.calls_to("chat.postMessage")[posted].args.get("text", ""))

    async def in_discord(self, name: str, options: dict[str, Any], sub: str | None = None,
                         person: Person = GUILD_ADMIN) -> str:  # fmt: skip
        interaction = await self.discord.command(name, options, subcommand=sub, person=person)
        return text_of((await self.discord.answer(interaction))["data"])


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[Both]:
    fake_slack, fake_discord = FakeSlack(), await FakeDiscord().start()
    await fake_slack.start()
    fake_slack.users[SLACK_ADMIN] = {"is_admin": True, "display_name": "Sam"}
    env = {**slack_harness.environment(fake_slack, tmp_path), **discord_harness.environment(fake_discord, tmp_path)}
    settings = discord_harness.make_settings(tmp_path, **env)
    app = build_app(settings, engine=FakeEngine())
    await app.start()
    slack = SlackAdapter(app.service, settings, host="127.0.0.1")
    discord = DiscordAdapter(app.service, settings)
    for adapter in (slack, discord):
        app.service.add_adapter(adapter)
        await adapter.start()
    http = aiohttp.ClientSession()
    try:
        yield Both(app, SlackBot(app, slack, fake_slack, http), DiscordBot(app, discord, fake_discord))
    finally:
        await http.close()
        await slack.close()
        await discord.close()
        await app.stop(grace_s=5)
        await fake_slack.close()
        await fake_discord.close()


async def test_a_workspace_admin_and_a_guild_admin_each_rule_only_their_own(both: Both) -> None:
    app = both.app
    assert "on this server" in await both.in_slack("/animate-admin block add cat")
    assert "this server's base model is now dreamshaper" in await both.in_slack("/animate-admin model dreamshaper")
    assert "on this server" in await both.in_discord("animate-admin", {"op": "add", "text": "dog"}, "block")

    # A clip in the guild, with a report on it.
    assert "queued #1" in await both.in_discord("animate", {"prompt": "a cat", **FAST}, person=GUILD_MEMBER)
    await both.discord.fake.wait_for(both.discord.clips)
    await app.service.wait_idle()
    report = app.service.access.moderation.add_report(1, "discord:73", "amy", "odd", None)

    # The workspace admin reaches for the guild's things: each answer is a missing thing's.
    for line, missing in (("/animate-admin release 1", "/animate-admin release 999"),
                          (f"/animate-admin reports close {report.id}", "/animate-admin reports close 999"),
                          ("/animate-cancel 1", "/animate-cancel 999")):  # fmt: skip
        real_id, missing_id = line.rsplit(" ", 1)[1], "999"
        assert await both.in_slack(line) == (await both.in_slack(missing)).replace(missing_id, real_id)
    assert "odd" not in await both.in_slack("/animate-admin reports")
    removed = await both.in_slack("/animate-admin block remove dog")
    assert removed == (await both.in_slack("/animate-admin block remove zebra")).replace("zebra", "dog")
    # And the guild admin for the workspace's rule.
    gone = await both.in_discord("animate-admin", {"op": "remove", "text": "cat"}, "block")
    assert gone == (await both.in_discord("animate-admin", {"op": "remove", "text": "zebra"}, "block")).replace(
        "zebra", "cat"
    )

    # The workspace pauses its own jobs; the guild's run.
    await both.in_slack("/animate-admin pause")
    assert app.queue.server_paused(WORKSPACE) and not app.queue.server_paused(GUILD) and not app.queue.paused
    assert "queued #2" in await both.in_discord("animate", {"prompt": "a horse", **FAST}, person=GUILD_MEMBER)
    await both.discord.fake.wait_for(lambda: len(both.discord.clips()) == 2)
    await app.service.wait_idle()
    assert app.repo.job(2).model_used != "dreamshaper"  # type: ignore[union-attr]  # the workspace's choice is its own
    await both.in_slack("/animate-admin resume")

    # Each block rule holds on its own server only.
    assert "content rules" in await both.in_slack("/animate a cat", user=SLACK_MEMBER)
    assert "content rules" in await both.in_discord("animate", {"prompt": "a dog", **FAST}, person=GUILD_MEMBER)
    assert "queued #3" in await both.in_discord("animate", {"prompt": "a cat", **FAST}, person=GUILD_MEMBER)
    await both.discord.fake.wait_for(lambda: len(both.discord.clips()) == 3)
    await app.service.wait_idle()
    assert [r.pattern for r in app.service.access.moderation.block_rules(WORKSPACE)] == ["cat"]
    assert [r.pattern for r in app.service.access.moderation.block_rules(GUILD)] == ["dog"]
    assert app.repo.job(1).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert [r.id for r in app.service.access.moderation.open_reports(GUILD)] == [report.id]
