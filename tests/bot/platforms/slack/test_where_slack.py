"""Where the bot may be used, on Slack: direct messages (off by default) and the allowed workspaces, through the
real slack-bolt app against the local fake Slack."""

from __future__ import annotations

import json
from pathlib import Path

from storage.scope import EVERYWHERE
from tests.bot.platforms.slack.harness import FAST, SlackBot, settings_for, start_bot, stop_bot
from tests.fakes.slack_server import TEAM_ID, FakeSlack, block_action, interactive_body

DM = "D0000001"


async def test_a_direct_message_command_answers_privately_and_writes_no_row(bot: SlackBot) -> None:
    for n, command in enumerate(("/animate", "/animate-queue")):
        status, body, _ = await bot.command(command, f"a cat {FAST}", channel=DM, trigger_id=f"trigger-{n}")
        answer = json.loads(body)
        assert status == 200 and answer["response_type"] == "ephemeral", command
        assert "does not take direct messages" in answer["text"] and "channel of a workspace" in answer["text"]
    assert bot.jobs() == 0 and bot.app.repo.audit_log() == []
    assert not bot.fake.calls_to("chat.postMessage") and not bot.fake.calls_to("chat.postEphemeral")


async def test_direct_messages_on_queue_a_clip(fake: FakeSlack, tmp_path: Path) -> None:
    bot = await start_bot(settings_for(fake, tmp_path, ANIMATEBOT_DIRECT_MESSAGES="on"), fake)
    try:
        status, body, _ = await bot.command("/animate", f"a cat {FAST}", channel=DM)
        assert (status, body) == (200, "")
        await fake.wait_for(lambda: any(u.shared for u in fake.uploads.values()), timeout=40)
        await bot.app.service.wait_idle()
        (job,) = bot.app.repo.history(EVERYWHERE, limit=5)
        assert job.channel_id == DM and job.workspace_id == TEAM_ID
    finally:
        await stop_bot(bot)


async def test_a_workspace_not_allowed_is_refused_every_command_and_button(fake: FakeSlack, tmp_path: Path) -> None:
    bot = await start_bot(settings_for(fake, tmp_path, ANIMATEBOT_ALLOWED_SERVERS="T9999999,123456789"), fake)
    try:
        status, body, _ = await bot.command("/animate", f"a cat {FAST}")
        answer = json.loads(body)
        assert status == 200 and answer["response_type"] == "ephemeral"
        assert answer["text"].count("\n") == 0 and "not available in this workspace" in answer["text"]
        click = block_action(
            "animatebot:reroll:1",
            user="U0000001",
            channel="C0000001",
            message_ts="1700000000.000100",
            thread_ts=None,
            trigger_id="trigger-2",
            response_url=fake.response_url("click"),
        )
        status, _, _ = await bot.send(interactive_body(click))
        assert status == 200
        await fake.wait_for(lambda: fake.responses_for("click"), timeout=10)
        (said,) = fake.responses_for("click")
        assert "not available in this workspace" in said["text"] and said.get("response_type") == "ephemeral"
        assert bot.jobs() == 0 and bot.app.repo.audit_log() == []
    finally:
        await stop_bot(bot)
