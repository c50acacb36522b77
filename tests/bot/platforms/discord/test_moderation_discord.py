"""Moderation on Discord end to end: interactions over the local fake gateway into the real discord.py
client and the real service, the fake engine making the frames, the tiny random NSFW classifier
judging them, and the real discord.py HTTP client out to the fake REST API. All on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.platforms.discord.adapter import DiscordAdapter
from bot.settings import Settings
from storage.models import GLOBAL
from storage.scope import EVERYWHERE
from tests.bot.platforms.discord.harness import settings_for
from tests.fakes.discord_server import (
    GUILD_ID,
    USER_ID,
    ChannelOption,
    FakeDiscord,
    Interaction,
    Payloads,
    Person,
    RoleOption,
)
from tests.fakes.engine import FakeEngine

FAST = {"steps": 1, "frames": 8}
EPHEMERAL = 64
ADMIN = Person(user_id=77, name="mod", manage_guild=True)
NSFW_CHANNEL_ID = 900_000_000_000_000_030
OTHER_CHANNEL_ID = 900_000_000_000_000_040
REPORT_CHANNEL_ID = 900_000_000_000_000_050
ARTISTS = 900_000_000_000_000_060


@dataclass
class Bot:
    app: App
    discord: DiscordAdapter
    fake: FakeDiscord

    async def command(self, name: str, options: dict[str, Any] | None = None, **kw: Any) -> Interaction:
        return await self.fake.interact(Payloads(self.fake).command(name, options, **kw))

    async def answer(self, interaction: Interaction) -> dict[str, Any]:
        """The interaction's callback, or its first follow-up when it was deferred."""
        await self.fake.wait_for(lambda: interaction.callback is not None, timeout=10)
        assert interaction.callback is not None
        if interaction.callback.get("type") in (4, 9):
            return interaction.callback
        token = interaction.payload["token"]
        pattern = rf"/webhooks/\d+/{token}.*"
        calls = await self.fake.wait_for(lambda: self.fake.find("POST", pattern) + self.fake.find("PATCH", pattern))
        return {"type": "followup", "data": calls[0].body}

    async def admin(self, subcommand: str, **options: Any) -> str:
        answer = await self.answer(await self.command("animate-admin", options, subcommand=subcommand, person=ADMIN))
        return text_of(answer["data"])

    def clips(self) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages.values() if m["attachments"]]


async def start_bot(settings: Settings, fake: FakeDiscord) -> Bot:
    app = build_app(settings, engine=FakeEngine())
    await app.start()
    adapter = DiscordAdapter(app.service, settings)
    app.service.add_adapter(adapter)
    await adapter.start()
    return Bot(app, adapter, fake)


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
        parts.append((embed.get("footer") or {}).get("text", ""))
    return "\n".join(p for p in parts if p)


async def run_bot(fake: FakeDiscord, tmp_path: Path, **extra: str) -> AsyncIterator[Bot]:
    bot = await start_bot(settings_for(fake, tmp_path, **extra), fake)
    try:
        yield bot
    finally:
        await bot.discord.close()
        await bot.app.stop(grace_s=5)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with an age-restricted channel, another channel and the admins' report channel."""
    server = await FakeDiscord().start()
    server.add_channel({"id": str(NSFW_CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "after-dark",
                        "nsfw": True})  # fmt: skip
    server.add_channel({"id": str(OTHER_CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "art"})
    server.add_channel({"id": str(REPORT_CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "mods"})
    yield server
    await server.close()


@pytest.fixture
async def bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Bot]:
    async for running in run_bot(fake, tmp_path):
        yield running


@pytest.fixture
async def flagging_bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Bot]:
    """The tiny classifier at threshold 0: every clip is flagged."""
    async for running in run_bot(
        fake, tmp_path, ANIMATEBOT_SAFETY_THRESHOLD="0", DISCORD_REPORT_CHANNEL_ID=str(REPORT_CHANNEL_ID)
    ):
        yield running


async def test_flagged_clip_is_withheld_in_a_normal_channel_and_posted_in_an_age_restricted_one(
    flagging_bot: Bot,
) -> None:
    bot, fake = flagging_bot, flagging_bot.fake
    await bot.answer(await bot.command("animate", {"prompt": "a beach at noon", **FAST}))
    await fake.wait_for(lambda: bot.app.repo.job(1) and bot.app.repo.job(1).delivery == "withheld")  # type: ignore[union-attr]
    await bot.app.service.wait_idle()
    assert bot.clips() == []
    job = bot.app.repo.job(1)
    assert job is not None and job.safety_flagged and job.safety_decision == "block" and not job.age_restricted
    dms = [m for m in fake.messages.values() if fake.channels[int(m["channel_id"])]["type"] == 1]
    (note,) = dms
    assert int(fake.channels[int(note["channel_id"])]["recipients"][0]["id"]) == USER_ID  # private, to the requester
    assert "your clip #1" in text_of(note) and "withheld" in text_of(note)
    parent = fake.messages[int(job.message_id or 0)]
    assert "withheld" in text_of(parent) and "/animate-admin release 1" in text_of(parent)

    await bot.answer(await bot.command("animate", {"prompt": "a beach at night", **FAST}, channel_id=NSFW_CHANNEL_ID))
    (clip,) = await fake.wait_for(bot.clips)
    await bot.app.service.wait_idle()
    second = bot.app.repo.job(2)
    assert second is not None and second.age_restricted and second.safety_decision == "allow"
    assert int(clip["channel_id"]) == int(second.thread_id or 0)
    assert not clip["attachments"][0]["filename"].startswith("SPOILER_")

    assert "released #1" in await bot.admin("release", job=1)
    await fake.wait_for(lambda: len(bot.clips()) == 2)
    assert bot.app.repo.job(1).safety_decision == "released"  # type: ignore[union-attr]


async def test_spoiler_policy_uploads_a_spoiler_file(flagging_bot: Bot) -> None:
    bot = flagging_bot
    assert "spoiler" in await bot.admin("safety", policy="spoiler")
    await bot.answer(await bot.command("animate", {"prompt": "a storm", **FAST}))
    (clip,) = await bot.fake.wait_for(bot.clips)
    await bot.app.service.wait_idle()
    assert clip["attachments"][0]["filename"].startswith("SPOILER_")
    assert bot.app.repo.job(1).safety_decision == "spoiler"  # type: ignore[union-attr]
    buttons = [c["custom_id"] for row in clip["components"] for c in row["components"]]
    assert "animatebot:report:1" in buttons


async def test_report_button_opens_a_form_records_and_notifies_the_report_channel(flagging_bot: Bot) -> None:
    bot, fake = flagging_bot, flagging_bot.fake
    await bot.admin("safety", policy="allow")
    await bot.answer(await bot.command("animate", {"prompt": "a crowded market", **FAST}))
    (clip,) = await fake.wait_for(bot.clips)
    await bot.app.service.wait_idle()
    payloads = Payloads(fake)
    reporter = Person(user_id=555, name="carol")
    click = await fake.interact(payloads.click("animatebot:report:1", int(clip["id"]), person=reporter))
    modal = await bot.answer(click)
    assert modal["type"] == 9 and modal["data"]["custom_id"].startswith("animatebot-report:1:")
    submit = payloads.modal_submit(modal["data"], ["shows a real person's face"], int(clip["id"]), person=reporter)
    thanks = await bot.answer(await fake.interact(submit))
    assert thanks["data"]["flags"] & EPHEMERAL and "reported to the admins" in text_of(thanks["data"])
    (report,) = bot.app.service.access.moderation.open_reports(None)
    assert (report.job_id, report.reporter_key, report.reason) == (1, "discord:555", "shows a real person's face")
    (notice,) = await fake.wait_for(lambda: fake.in_channel(REPORT_CHANNEL_ID))
    assert "Carol reported clip #1" in text_of(notice) and f"/{clip['channel_id']}/{clip['id']}" in text_of(notice)
    assert "report #1: clip #1 by Carol" in await bot.admin("reports")


async def test_blocked_prompts_are_refused_privately_with_no_job(bot: Bot) -> None:
    bot.app.queue.set_paused(True)  # accepted jobs wait; nothing here needs a clip
    assert "blocked ass" in await bot.admin("block", op="add", text="ass")
    for options in ({"prompt": "a 4$$ joke"}, {"prompt": "a cat", "negative": "a.s.s", "guidance": 2.0}):
        refused = await bot.answer(await bot.command("animate", {**options, **FAST}))
        assert refused["type"] == 4 and refused["data"]["flags"] & EPHEMERAL
        assert "content rules" in text_of(refused["data"]) and "ass" not in text_of(refused["data"]).lower()
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    accepted = await bot.answer(await bot.command("animate", {"prompt": "a class photo", **FAST}))
    assert "queued #1" in text_of(accepted["data"]) and not accepted["data"].get("flags")


async def test_a_blocked_remix_is_refused(fake: FakeDiscord, bot: Bot) -> None:
    await bot.answer(await bot.command("animate", {"prompt": "a lighthouse", **FAST}))
    (clip,) = await fake.wait_for(bot.clips)
    await bot.app.service.wait_idle()
    await bot.admin("block", op="add", text="/n[a4]zi/")
    payloads = Payloads(fake)
    modal = await bot.answer(await fake.interact(payloads.click("animatebot:remix:1", int(clip["id"]))))
    submit = payloads.modal_submit(modal["data"], ["a n4zi lighthouse", ""], int(clip["id"]))
    refused = await bot.answer(await fake.interact(submit))
    assert refused["data"]["flags"] & EPHEMERAL and "content rules" in text_of(refused["data"])
    assert bot.app.repo.job(2) is None


async def test_channel_rules_roles_and_quota(bot: Bot) -> None:
    bot.app.queue.set_paused(True)
    assert f"only in <#{OTHER_CHANNEL_ID}>" in await bot.admin(
        "channels", op="allow", channel=ChannelOption(OTHER_CHANNEL_ID, "art")
    )
    refused = await bot.answer(await bot.command("animate", {"prompt": "a cat", **FAST}))
    assert refused["data"]["flags"] & EPHEMERAL and f"works only in <#{OTHER_CHANNEL_ID}>" in text_of(refused["data"])
    await bot.admin("channels", op="clear")

    assert f"<@&{ARTISTS}>" in await bot.admin("roles", op="add", role=RoleOption(ARTISTS, "artists"))
    refused = await bot.answer(await bot.command("animate", {"prompt": "a cat", **FAST}))
    assert f"one of these roles here: <@&{ARTISTS}>" in text_of(refused["data"])
    artist = Person(user_id=321, name="ada", roles=(ARTISTS,))
    queued = await bot.answer(await bot.command("animate", {"prompt": "a cat", **FAST}, person=artist))
    assert "queued #1" in text_of(queued["data"])

    assert "1 per person" in await bot.admin("quota", user_daily=1)
    refused = await bot.answer(await bot.command("animate", {"prompt": "a dog", **FAST}, person=artist))
    assert refused["data"]["flags"] & EPHEMERAL and "daily quota" in text_of(refused["data"])
    assert "try again in" in text_of(refused["data"])
    admin_job = await bot.answer(await bot.command("animate", {"prompt": "a dog", **FAST}, person=ADMIN))
    assert "queued #2" in text_of(admin_job["data"])  # admins are exempt from roles and quotas


async def test_a_member_is_refused_every_moderation_subcommand(bot: Bot) -> None:
    member = Person(name="mallory")
    tries: list[tuple[str, dict[str, Any]]] = [
        ("block", {"op": "add", "text": "cat"}),
        ("block", {"op": "list"}),
        ("channels", {"op": "deny"}),
        ("safety", {"policy": "allow"}),
        ("quota", {"user_daily": 1}),
        ("roles", {"op": "add", "role": RoleOption(ARTISTS)}),
        ("release", {"job": 1}),
        ("reports", {}),
    ]
    for subcommand, options in tries:
        answer = await bot.answer(await bot.command("animate-admin", options, subcommand=subcommand, person=member))
        assert answer["data"]["flags"] & EPHEMERAL and "only admins" in text_of(answer["data"]), subcommand
    assert bot.app.service.access.moderation.block_rules(GLOBAL) == []
    assert bot.app.service.access.quotas("discord", str(GUILD_ID)).user_daily == 0
    refused = [e for e in bot.app.repo.audit_log(50) if not e.allowed]
    assert len(refused) == len(tries)
