"""The Discord adapter end to end: interactions pushed over a local fake gateway into the real
discord.py client, the real service and tiny pipeline, and the real discord.py HTTP client out to a
local fake of Discord's REST API. Every socket is on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.settings import load_settings
from storage.models import Tenant
from storage.scope import EVERYWHERE
from tests.bot.platforms.discord.harness import (
    BOT_AUTH,
    EPHEMERAL,
    DiscordBot,
    custom_ids,
    environment,
    settings_for,
    start_bot,
    stop_bot,
    text_of,
)
from tests.fakes.discord_server import (
    CHANNEL_ID,
    GUILD_ID,
    TOKEN,
    FakeDiscord,
    Person,
)

FAST = {"steps": 1, "frames": 8}
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content


# A clip card's buttons, in order: the review buttons, Save as preset (issue 21), Vary (issue 21), after the clip (22).
CARD_ACTIONS = (
    "reroll",
    "remix",
    "approve",
    "reject",
    "delete",
    "report",
    "preset",
    "vary-subtle",
    "vary-strong",
    "smooth",
    "upscale",
    "extend",
)


async def test_animate_over_the_gateway_defers_in_time_and_posts_the_gif_in_a_thread(
    fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configured only through the environment, as `animatebot run` is.
    for key, value in environment(fake, tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    bot = await start_bot(load_settings(), fake)
    try:
        (identify,) = fake.identifies
        assert identify["token"] == TOKEN and not identify["intents"] & PRIVILEGED_INTENTS
        names = {c["name"] for c in fake.commands["global"]}
        assert {"animate", "animate-queue", "animate-admin", "animate-help"} <= names

        interaction = await bot.command(
            "animate", {"prompt": "a smiling girl", "motion": "zoom-in", "steps": 4, "frames": 8}
        )
        callback = await bot.acked(interaction)
        assert callback == {"type": 5}  # public "thinking…"

        # Interaction tokens die after 15 minutes: from the queued reply on, only the bot token may work.
        queued = await fake.wait_for(lambda: fake.find("POST", r"/webhooks/\d+/[^/]+"))
        fake.expire_interaction_tokens()
        (clip,) = await bot.clip_posted()
    finally:
        await stop_bot(bot)

    assert "queued #1" in queued[0].body["content"]
    parent_id = interaction.original_id
    assert parent_id is not None
    parent = fake.messages[parent_id]
    assert not parent["flags"] & EPHEMERAL

    (thread_call,) = fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/{parent_id}/threads")
    assert thread_call.auth == BOT_AUTH and thread_call.body["name"].startswith("#1 a smiling girl")
    assert int(clip["channel_id"]) == parent_id  # the thread has its starter message's id

    edits = fake.find("PATCH", rf"/channels/{CHANNEL_ID}/messages/{parent_id}")
    assert edits and all(e.auth == BOT_AUTH for e in edits)
    assert any("generating" in text_of(e.body) and "█" in text_of(e.body) for e in edits), edits
    assert "done #1" in text_of(parent) and f"/{parent_id}/{clip['id']}" in text_of(parent)

    (upload_call,) = [c for c in fake.find("POST", r"/channels/\d+/messages") if c.files]
    assert upload_call.auth == BOT_AUTH
    (upload,) = upload_call.files
    assert upload.data[:6] in (b"GIF87a", b"GIF89a") and upload.filename.endswith(".gif")
    assert len(upload.data) < 10 * 1024 * 1024 and clip["attachments"][0]["size"] == len(upload.data)
    (embed,) = clip["embeds"]
    assert embed["title"].startswith("#1") and embed["color"] is not None
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Motion"].startswith("zoom-in") and fields["Steps"] == "4"
    assert "requested by Alice" in embed["footer"]["text"]
    assert custom_ids(clip) == [f"animatebot:{a}:1" for a in CARD_ACTIONS]


async def test_a_validation_error_is_ephemeral_and_queues_nothing(bot: DiscordBot) -> None:
    interaction = await bot.command("animate", {"prompt": "a cat frames:99"})
    callback = await bot.acked(interaction)
    assert callback["type"] == 4 and callback["data"]["flags"] & EPHEMERAL
    assert "frames must be a whole number from 8 to 64" in text_of(callback["data"])
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    assert not bot.fake.find("POST", r"/webhooks/.*") and not bot.fake.find("POST", r"/channels/.*")


async def test_admin_commands_are_hidden_from_members_and_refused_server_side(bot: DiscordBot) -> None:
    admin_group = next(c for c in bot.fake.commands["global"] if c["name"] == "animate-admin")
    assert int(admin_group["default_member_permissions"]) == 1 << 5 and admin_group["dm_permission"] is False

    member = await bot.command("animate-admin", subcommand="pause", person=Person(name="mallory"))
    refused = await bot.acked(member)
    assert refused["type"] == 4 and refused["data"]["flags"] & EPHEMERAL
    assert "only admins" in text_of(refused["data"])
    assert not bot.app.queue.paused

    manager = Person(user_id=77, name="mod", manage_guild=True)
    allowed = await bot.acked(await bot.command("animate-admin", subcommand="pause", person=manager))
    assert allowed["type"] == 4 and not allowed["data"].get("flags")
    assert "paused by Mod" in text_of(allowed["data"])
    # Manage Server makes a server admin: the pause holds this guild's jobs, not the whole queue.
    assert bot.app.queue.server_paused(Tenant("discord", str(GUILD_ID))) and not bot.app.queue.paused

    choices = await bot.acked(await bot.fake.interact(autocomplete(bot, "model", "dream", manager)))
    assert choices["type"] == 8
    assert [c["value"] for c in choices["data"]["choices"]] == ["dreamshaper"]


def autocomplete(bot: DiscordBot, subcommand: str, current: str, person: Person) -> dict[str, Any]:
    payload = bot.payloads.command("animate-admin", {"name": current}, subcommand=subcommand, person=person)
    payload["type"] = 4
    payload["data"]["options"][0]["options"][0]["focused"] = True
    return payload


async def test_buttons_and_remix_work_after_a_restart(fake: FakeDiscord, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path)
    first = await start_bot(settings, fake)
    try:
        await first.acked(await first.command("animate", {"prompt": "a lighthouse", **FAST}))
        (clip,) = await first.clip_posted()
    finally:
        await stop_bot(first)

    # A new process: new client, new service, the same database; the clip message is old.
    second = await start_bot(settings, fake)
    try:
        clip_id = int(clip["id"])
        approve = await fake.interact(second.payloads.click("animatebot:approve:1", clip_id))
        assert (await second.acked(approve)) == {"type": 6}  # deferred update: nothing shown yet
        note = await fake.wait_for(lambda: fake.find("POST", rf"/webhooks/\d+/{approve.payload['token']}"))
        assert note[0].body["flags"] & EPHEMERAL and "you approved #1" in text_of(note[0].body)
        assert "1 approval" in text_of(fake.messages[clip_id]).lower()  # the clip's review field redrawn

        remix = await fake.interact(second.payloads.click("animatebot:remix:1", clip_id))
        modal = await second.acked(remix)
        assert modal["type"] == 9
        inputs = [c for row in modal["data"]["components"] for c in row["components"]]
        assert [i.get("value") for i in inputs] == ["a lighthouse", None]
        submit = second.payloads.modal_submit(modal["data"], ["a lighthouse at night", "pan-left@0.5"], clip_id)
        await second.acked(await fake.interact(submit))
        clips = await second.clip_posted(count=2)
    finally:
        await stop_bot(second)

    job = second.app.repo.job(2)
    assert job is not None and job.parent_id == 1 and job.lineage == "remix"
    assert job.prompt == "a lighthouse at night" and job.motions_used and job.motions_used.startswith("pan-left")
    remixed = next(m for m in clips if int(m["id"]) != clip_id)
    assert remixed["channel_id"] == clip["channel_id"]  # the remix stays in the thread
    assert custom_ids(remixed)[0] == "animatebot:reroll:2"


async def test_an_upload_refused_for_size_is_reencoded_smaller_and_arrives(bot: DiscordBot) -> None:
    clip_upload = r"/channels/\d+/messages"
    bot.fake.fail("POST", clip_upload, 413, {"message": "Request entity too large", "code": 40005})
    await bot.acked(await bot.command("animate", {"prompt": "a red fox", **FAST}))
    (clip,) = await bot.clip_posted()

    attempts = [c for c in bot.fake.calls if c.method == "POST" and re.fullmatch(clip_upload, c.path) and c.files]
    assert [c.status for c in attempts] == [413, 200]
    first, second = (c.files[0].data for c in attempts)
    assert len(second) < len(first) and second[:6] == b"GIF89a"
    job = bot.app.repo.job(1)
    assert job is not None and job.delivery == "clip-reencoded" and "re-encoded" in (job.notes or "")
    assert clip["attachments"][0]["size"] == len(second)
