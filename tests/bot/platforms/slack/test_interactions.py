"""The Slack adapter over Socket Mode, workspace admins, the remix modal and channels the bot is not in.

Jobs are kept from running (the queue is paused) where only their creation matters, so the file stays fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.platforms.slack.adapter import SlackAdapter
from generation.params import GenerationParams
from storage.models import Tenant
from tests.bot.platforms.slack.harness import SlackBot, settings_for, start_bot, stop_bot
from tests.fakes.slack_server import TEAM_ID, FakeSlack, interactive_body, slash_command, view_submission

ADMIN = "UADMIN001"
MEMBER = "UMEMBER01"


@pytest.fixture
async def bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[SlackBot]:
    running = await start_bot(settings_for(fake, tmp_path), fake)
    running.app.queue.set_paused(True)  # jobs are created, none runs
    yield running
    await stop_bot(running)


async def test_socket_mode_commands_are_acked_and_answered(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path, SLACK_MODE="socket", SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET="")
    bot = await start_bot(settings, fake)
    try:
        (opened,) = fake.calls_to("apps.connections.open")
        assert opened.token == "xapp-1-test"

        help_cmd = slash_command("/animate-help", "", trigger_id="s-help", response_url=fake.response_url("s-help"))
        ack = await fake.push("slash_commands", help_cmd)
        assert set(ack) == {"envelope_id"}  # an empty ack; the answer follows
        await fake.wait_for(lambda: fake.responses_for("s-help"))
        (answer,) = fake.responses_for("s-help")
        assert answer["response_type"] == "ephemeral" and "/animate" in answer["text"]

        bad = slash_command("/animate", "a cat steps:3", trigger_id="s-bad")
        ack = await fake.push("slash_commands", bad)
        assert ack["payload"]["response_type"] == "ephemeral" and "steps" in ack["payload"]["text"]

        queue = slash_command("/animate-queue", "", trigger_id="s-retry", response_url=fake.response_url("s-retry"))
        ack = await fake.push("slash_commands", queue, retry_attempt=1)
        assert set(ack) == {"envelope_id"}
        assert not fake.responses_for("s-retry")  # a redelivery is acknowledged, not run
        assert bot.jobs() == 0
    finally:
        await stop_bot(bot)


async def test_socket_mode_start_names_a_refused_app_token(fake: FakeSlack, tmp_path: Path) -> None:
    fake.fail_next("apps.connections.open", "invalid_auth")
    settings = settings_for(fake, tmp_path, SLACK_MODE="socket", SLACK_APP_TOKEN="xapp-1-revoked")
    slack = SlackAdapter(None, settings, host="127.0.0.1")
    with pytest.raises(RuntimeError, match=r"SLACK_APP_TOKEN.*invalid_auth") as caught:
        await slack.start()
    assert "xapp-1-revoked" not in str(caught.value)
    await slack.close()


async def test_workspace_admins_come_from_users_info_and_are_cached(bot: SlackBot) -> None:
    bot.fake.users[ADMIN] = {"is_admin": True, "display_name": "Ada"}
    await bot.command("/animate-admin", "resume", user=MEMBER, trigger_id="a-member")
    await bot.fake.wait_for(lambda: bot.fake.responses_for("a-member"))
    assert "only admins" in bot.fake.responses_for("a-member")[0]["text"]
    workspace = Tenant("slack", TEAM_ID)
    assert not bot.app.queue.server_paused(workspace)

    # A workspace admin pauses and resumes that workspace's jobs (the owners' pause is theirs alone).
    await bot.command("/animate-admin", "pause", user=ADMIN, trigger_id="a-admin-1")
    # pausing is announced in public
    await bot.fake.wait_for(
        lambda: any("paused by Ada" in c.args["text"] for c in bot.fake.calls_to("chat.postMessage"))
    )
    assert bot.app.queue.server_paused(workspace)
    await bot.command("/animate-admin", "resume", user=ADMIN, trigger_id="a-admin-2")
    await bot.fake.wait_for(lambda: not bot.app.queue.server_paused(workspace))
    looked_up = [c.args["user"] for c in bot.fake.calls_to("users.info")]
    assert sorted(looked_up) == [ADMIN, MEMBER]  # one lookup per person, then the cache


async def test_remix_opens_a_prefilled_modal_and_its_submission_makes_a_child_job(bot: SlackBot) -> None:
    await bot.command("/animate", "a lighthouse at dusk motion:pan-left steps:1 frames:8", trigger_id="r-1")
    await bot.fake.wait_for(lambda: (job := bot.app.repo.job(1)) is not None and job.thread_id is not None)
    parent = bot.app.repo.job(1)
    assert parent is not None and parent.message_id

    opened = await bot.open_view("animatebot:remix:1", MEMBER, "r-click")
    assert opened["trigger_id"] == "r-click"
    view = opened["view"]
    inputs = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"]}
    assert inputs == {"prompt": "a lighthouse at dusk", "motion": "pan-left@0.75"}

    submitted = view_submission(view, user=MEMBER, values={"prompt": "a lighthouse in a storm", "motion": "zoom-in"})
    status, body, _ = await bot.send(interactive_body(submitted))
    assert (status, body) == (200, "")  # the modal closes
    await bot.fake.wait_for(lambda: bot.app.repo.job(2) is not None)
    child = bot.app.repo.job(2)
    assert child is not None
    assert (child.parent_id, child.lineage, child.prompt) == (1, "remix", "a lighthouse in a storm")
    assert GenerationParams.from_dict(child.params).motion_text == "zoom-in@0.75"
    assert child.thread_id == parent.message_id  # answered in the parent's thread


async def test_a_channel_the_bot_is_not_in_gets_an_invite_hint(bot: SlackBot) -> None:
    bot.fake.not_in_channels.add("GPRIVATE1")
    status, body, _ = await bot.command(
        "/animate", "a quiet pond steps:1 frames:8", channel="GPRIVATE1", trigger_id="n-1"
    )
    assert (status, body) == (200, "")
    await bot.fake.wait_for(lambda: bot.fake.responses_for("n-1"))
    (hint,) = bot.fake.responses_for("n-1")
    assert hint["response_type"] == "ephemeral"
    assert "/invite @animatebot" in hint["text"]
    # Nobody could see that clip: the job is dropped, not run.
    # Two writes (the cancel, then the failed delivery): wait for the second, then check both.
    await bot.fake.wait_for(lambda: (j := bot.app.repo.job(1)) is not None and j.delivery == "failed")
    job = bot.app.repo.job(1)
    assert job is not None and job.status == "cancelled"
    assert job.delivery == "failed" and "could not post" in (job.error or "")


async def test_the_typed_text_reaches_the_service_unescaped(bot: SlackBot) -> None:
    # Slack sends &, < and > in a command's text as entities; the prompt is what was typed.
    await bot.command("/animate", "fish &amp; chips &lt;3 steps:1 frames:8", trigger_id="u-1")
    await bot.fake.wait_for(lambda: bot.app.repo.job(1) is not None)
    assert bot.app.repo.job(1).prompt == "fish & chips <3"  # type: ignore[union-attr]
    await bot.fake.wait_for(lambda: bot.fake.calls_to("chat.postMessage"))
    assert "fish &amp; chips &lt;3" in bot.fake.calls_to("chat.postMessage")[0].args["text"]  # shown as typed
