"""Moderation on Slack end to end: signed HTTP requests into bolt and the real service, the fake engine
making frames, the tiny random NSFW classifier judging them, the real slack-sdk client out to the
local fake Slack. All on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.app import App, build_app
from bot.platforms.slack.adapter import EVENTS_PATH, SlackAdapter
from bot.settings import Settings
from storage.models import GLOBAL
from tests.bot.platforms.slack.harness import SECRET
from tests.bot.platforms.slack.harness import settings_for as slack_settings_for
from tests.fakes.engine import FakeEngine
from tests.fakes.slack_server import (
    FakeSlack,
    block_action,
    form_body,
    interactive_body,
    signed_headers,
    slash_command,
    view_submission,
)

CHANNEL = "C0000001"
ART = "C0000009"
MODS = "C0000MODS"
MEMBER = "UMEMBER01"
ADMIN = "UADMIN001"
FAST = "steps:1 frames:8"


@dataclass
class Bot:
    app: App
    slack: SlackAdapter
    fake: FakeSlack
    http: aiohttp.ClientSession
    triggers: int = 0

    async def send(self, body: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.slack.port}{EVENTS_PATH}"
        async with self.http.post(url, data=body, headers=signed_headers(SECRET, body)) as resp:
            return resp.status, await resp.text()

    async def command(self, command: str, text: str, user: str = MEMBER, channel: str = CHANNEL) -> tuple[str, str]:
        """Run a slash command; returns the ack body and the trigger id its later answers are filed under."""
        self.triggers += 1
        trigger = f"t-{self.triggers}"
        fields = slash_command(command, text, user=user, channel=channel, trigger_id=trigger,
                               response_url=self.fake.response_url(trigger))  # fmt: skip
        status, body = await self.send(form_body(fields))
        assert status == 200
        return body, trigger

    async def answer(self, command: str, text: str, user: str = MEMBER) -> str:
        """The ephemeral answer to a command that is not /animate (it comes through response_url)."""
        _, trigger = await self.command(command, text, user=user)
        await self.fake.wait_for(lambda: self.fake.responses_for(trigger))
        return str(self.fake.responses_for(trigger)[0]["text"])

    async def refused(self, text: str, user: str = MEMBER, channel: str = CHANNEL) -> str:
        body, _ = await self.command("/animate", text, user=user, channel=channel)
        answer = json.loads(body)
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    async def click(self, value: str, user: str, message_ts: str, thread_ts: str | None) -> str:
        self.triggers += 1
        trigger = f"c-{self.triggers}"
        payload = block_action(value, user=user, channel=CHANNEL, message_ts=message_ts, thread_ts=thread_ts,
                               trigger_id=trigger, response_url=self.fake.response_url(trigger))  # fmt: skip
        status, _ = await self.send(interactive_body(payload))
        assert status == 200
        return trigger

    def jobs(self) -> int:
        return self.app.repo.count_status("queued", "running", "succeeded", "failed", "cancelled")

    def shared(self) -> int:
        return sum(1 for u in self.fake.uploads.values() if u.shared)


def settings_for(fake: FakeSlack, tmp_path: Path, **extra: str) -> Settings:
    return slack_settings_for(fake, tmp_path, **{"SLACK_ADMIN_USER_IDS": ADMIN, **extra})


async def run_bot(fake: FakeSlack, tmp_path: Path, **extra: str) -> AsyncIterator[Bot]:
    settings = settings_for(fake, tmp_path, **extra)
    app = build_app(settings, engine=FakeEngine())
    await app.start()
    slack = SlackAdapter(app.service, settings, host="127.0.0.1")
    app.service.add_adapter(slack)
    await slack.start()
    bot = Bot(app, slack, fake, aiohttp.ClientSession())
    try:
        yield bot
    finally:
        await bot.http.close()
        await slack.close()
        await app.stop(grace_s=5)


@pytest.fixture
async def bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Bot]:
    async for running in run_bot(fake, tmp_path):
        yield running


@pytest.fixture
async def flagging_bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Bot]:
    async for running in run_bot(fake, tmp_path, ANIMATEBOT_SAFETY_THRESHOLD="0", SLACK_REPORT_CHANNEL_ID=MODS):
        yield running


async def test_blocked_prompts_are_the_ephemeral_ack_and_innocent_words_pass(bot: Bot) -> None:
    bot.app.queue.set_paused(True)
    assert "blocked ass" in await bot.answer("/animate-admin", "block add ass", user=ADMIN)
    for text in (f"a 4$$ joke {FAST}", f"a.s.s {FAST}", f'a cat neg:"kick-ass" guidance:2 {FAST}'):
        answer = await bot.refused(text)
        assert "content rules" in answer and "ass" not in answer.lower(), text
    assert bot.jobs() == 0
    body, _ = await bot.command("/animate", f"a class photo {FAST}")
    assert body == ""
    await bot.fake.wait_for(lambda: bot.jobs() == 1)


async def test_channel_rules_and_quota(bot: Bot) -> None:
    bot.app.queue.set_paused(True)
    assert f"works only in #{ART}" in await bot.answer("/animate-admin", f"channels allow <#{ART}|art>", user=ADMIN)
    assert f"/animate works only in #{ART}" in await bot.refused(f"a cat {FAST}")
    body, _ = await bot.command("/animate", f"a cat {FAST}", channel=ART)
    assert body == ""
    await bot.fake.wait_for(lambda: bot.jobs() == 1)
    assert "1 per person" in await bot.answer("/animate-admin", "quota user:1", user=ADMIN)
    refused = await bot.refused(f"a dog {FAST}", channel=ART)
    assert "daily quota" in refused and "try again in" in refused and bot.jobs() == 1
    assert "role gating is for Discord" in await bot.answer("/animate-admin", "roles add 123", user=ADMIN)


async def test_flagged_clips_follow_each_policy(flagging_bot: Bot) -> None:
    bot, fake = flagging_bot, flagging_bot.fake
    # Default on Slack: block. Nothing is uploaded; the requester alone is told.
    await bot.command("/animate", f"a quiet harbour {FAST}")
    await fake.wait_for(lambda: (j := bot.app.repo.job(1)) is not None and j.delivery == "withheld")
    await bot.app.service.wait_idle()
    assert bot.shared() == 0
    notes = [c.args for c in fake.calls_to("chat.postEphemeral") if "withheld" in c.args["text"]]
    assert notes and notes[0]["user"] == MEMBER and notes[0]["channel"] == CHANNEL

    # spoiler: a warning with a Reveal button; the clip only on click.
    assert "spoiler" in await bot.answer("/animate-admin", "safety spoiler", user=ADMIN)
    await bot.command("/animate", f"a busy harbour {FAST}")
    await fake.wait_for(lambda: (j := bot.app.repo.job(2)) is not None and j.delivery == "message")
    await bot.app.service.wait_idle()
    job = bot.app.repo.job(2)
    assert job is not None and job.safety_decision == "spoiler" and bot.shared() == 0
    warning = fake.messages[(CHANNEL, job.clip_message_id or "")]
    values = [e["value"] for b in warning["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values == ["animatebot:reveal:2"] and "click Reveal" in warning["text"]
    await bot.click("animatebot:reveal:2", MEMBER, job.clip_message_id or "", job.thread_id)
    await fake.wait_for(lambda: bot.shared() == 1)
    assert bot.app.repo.job(2).safety_decision == "revealed"  # type: ignore[union-attr]

    # allow: straight through.
    await bot.answer("/animate-admin", "safety allow", user=ADMIN)
    await bot.command("/animate", f"a harbour at night {FAST}")
    await fake.wait_for(lambda: bot.shared() == 2)
    await bot.app.service.wait_idle()
    assert bot.app.repo.job(3).safety_decision == "allow"  # type: ignore[union-attr]

    # An admin releases the withheld one.
    assert "released #1" in await bot.answer("/animate-admin", "release 1", user=ADMIN)
    await fake.wait_for(lambda: bot.shared() == 3)


async def test_report_form_records_and_notifies_the_report_channel(flagging_bot: Bot) -> None:
    bot, fake = flagging_bot, flagging_bot.fake
    await bot.answer("/animate-admin", "safety allow", user=ADMIN)
    await bot.command("/animate", f"a parade {FAST}")
    await fake.wait_for(lambda: bot.shared() == 1)
    await bot.app.service.wait_idle()
    job = bot.app.repo.job(1)
    assert job is not None and job.clip_message_id
    await bot.click("animatebot:report:1", "UCAROL001", job.clip_message_id, job.thread_id)
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    view = fake.calls_to("views.open")[0].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "animatebot_report"
    status, body = await bot.send(
        interactive_body(view_submission({**view, "id": "V1"}, user="UCAROL001", values={"reason": "spam"}))
    )
    assert (status, body) == (200, "")
    await fake.wait_for(lambda: bot.app.service.access.moderation.open_reports(None))
    (report,) = bot.app.service.access.moderation.open_reports(None)
    assert (report.job_id, report.reporter_key, report.reason) == (1, "slack:UCAROL001", "spam")
    await fake.wait_for(lambda: [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == MODS])
    (notice,) = [c.args for c in fake.calls_to("chat.postMessage") if c.args["channel"] == MODS]
    assert "reported clip #1: spam" in notice["text"] and "fake-workspace.slack.com/archives/" in notice["text"]
    assert "report #1: clip #1" in await bot.answer("/animate-admin", "reports", user=ADMIN)


async def test_a_member_is_refused_every_moderation_command(bot: Bot) -> None:
    commands = ["block add cat", "block list", "channels deny", "safety allow", "quota user:1", "roles clear",
                "release 1", "reports"]  # fmt: skip
    for command in commands:
        assert "only admins" in await bot.answer("/animate-admin", command), command
    assert bot.app.service.access.moderation.block_rules(GLOBAL) == []
    assert len([e for e in bot.app.repo.audit_log(50) if not e.allowed]) == len(commands)
