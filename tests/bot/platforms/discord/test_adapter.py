"""The Discord adapter's pieces against the local fake Discord, without generating clips: the
outbound ChatAdapter calls, HTTP faults, interaction responses, startup (token, guild sync,
gateway discovery), native options into the shared grammar, and rendering."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import App
from bot.chat import Button, Clip, Field, Message, MessageRef, NotInChannel, Place, UploadTooLarge
from bot.platforms.discord.adapter import DiscordAdapter
from bot.platforms.discord.commands import motion_option
from bot.platforms.discord.interactions import DEFER_AFTER_S, InteractionResponder, deadline
from bot.platforms.discord.render import EMBED_TOTAL_MAX, TONE_COLOURS, progress_bar, render, thread_name
from generation.params import MotionSpec
from tests.bot.platforms.discord.harness import BOT_AUTH, EPHEMERAL
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, TOKEN, FakeDiscord, Payloads, Person
from tests.harness import make_settings

PLACE = Place("discord", str(CHANNEL_ID), str(GUILD_ID))


def clip_file(tmp_path: Path, size: int = 4096) -> Clip:
    path = tmp_path / "000001-a-cat.gif"
    path.write_bytes(b"GIF89a" + bytes(size - 6))
    return Clip(path, "image/gif", size)


# --- outbound ----------------------------------------------------------------------------------------


async def test_post_edit_delete_with_the_bot_token_and_discord_shapes(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    plain = await adapter.post(PLACE, Message("queued #3, next in line"))
    sent = fake.messages[int(plain.message_id)]
    assert sent["content"] == "queued #3, next in line" and sent["embeds"] == [] and sent["components"] == []

    rich = Message(
        "a line",
        title="#3",
        fields=(Field("Seed", "42"),),
        tone="ok",
        buttons=(Button("approve", 3, "Approve", "success"),),
    )
    await adapter.edit(plain, rich)
    edited = fake.messages[int(plain.message_id)]
    assert edited["content"] == "" and edited["embeds"][0]["title"] == "#3"
    assert edited["embeds"][0]["color"] == TONE_COLOURS["ok"].value
    assert edited["embeds"][0]["fields"] == [{"name": "Seed", "value": "42", "inline": True}]
    assert edited["components"][0]["components"][0] == {
        "type": 2,
        "style": discord.ButtonStyle.success.value,
        "label": "Approve",
        "custom_id": "animatebot:approve:3",
        "disabled": False,
    }

    await adapter.edit(plain, Message("plain again"))  # embed and buttons go away
    again = fake.messages[int(plain.message_id)]
    assert (again["content"], again["embeds"], again["components"]) == ("plain again", [], [])
    assert all(c.auth == BOT_AUTH for c in fake.calls if c.path.startswith("/channels/"))

    await adapter.delete(plain)
    await adapter.delete(plain)  # already gone: still fine
    assert int(plain.message_id) not in fake.messages
    assert adapter.link(plain) == f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{plain.message_id}"


async def test_threads_start_from_the_message_or_fall_back_to_the_channel(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    ref = await adapter.post(PLACE, Message("queued #1"))
    thread = await adapter.start_thread(ref, "#1 a very long prompt\nwith a line break " + "x" * 200)
    assert thread == PLACE.in_thread(ref.message_id)
    (call,) = fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/{ref.message_id}/threads")
    assert len(call.body["name"]) == 100 and "\n" not in call.body["name"] and call.auth == BOT_AUTH
    assert await adapter.start_thread(ref, "again") == thread  # Discord: thread already exists (160004)

    in_thread = await adapter.post(thread, Message("inside"))
    assert fake.messages[int(in_thread.message_id)]["channel_id"] == ref.message_id
    assert adapter.link(in_thread) == f"https://discord.com/channels/{GUILD_ID}/{ref.message_id}/{in_thread.message_id}"

    fake.forbid_threads.add(CHANNEL_ID)
    other = await adapter.post(PLACE, Message("queued #2"))
    assert await adapter.start_thread(other, "#2") is None  # 403 Missing Permissions
    dm = Place("discord", "123", "", is_dm=True)
    assert await adapter.start_thread(MessageRef(dm, "456"), "#3") is None
    assert not fake.find("POST", r"/channels/123/.*")


async def test_clip_upload_retries_429_and_5xx_and_maps_413(
    adapter: DiscordAdapter, fake: FakeDiscord, tmp_path: Path
) -> None:
    clip = clip_file(tmp_path)
    fake.fail("POST", r"/channels/\d+/messages", 502, {"message": "Bad Gateway", "code": 0})
    fake.rate_limit("POST", r"/channels/\d+/messages", retry_after=0.05)
    ref = await adapter.post_clip(PLACE, Message("clip", title="#1"), clip)
    attempts = [c for c in fake.calls if c.files]
    assert [c.status for c in attempts] == [502, 429, 200]
    assert all(c.files[0].data == clip.path.read_bytes() and c.files[0].filename == clip.filename for c in attempts)
    assert attempts[-1].body["embeds"][0]["title"] == "#1"
    assert fake.messages[int(ref.message_id)]["attachments"][0]["size"] == clip.size

    fake.upload_limit = 1024
    with pytest.raises(UploadTooLarge):
        await adapter.post_clip(PLACE, Message("clip"), clip)
    fake.fail("POST", r"/channels/\d+/messages", 403, {"message": "Missing Access", "code": 50001})
    with pytest.raises(NotInChannel):
        await adapter.post_clip(PLACE, Message("clip"), clip_file(tmp_path, 512))
    fake.fail("POST", r"/channels/\d+/messages", 400, {"message": "Invalid Form Body", "code": 50035})
    with pytest.raises(discord.HTTPException):  # anything else is the service's to handle
        await adapter.post_clip(PLACE, Message("clip"), clip_file(tmp_path, 512))


async def test_notify_sends_a_dm_or_mentions_when_dms_are_closed(adapter: DiscordAdapter, fake: FakeDiscord) -> None:
    await adapter.notify(PLACE, "4242", Message("your clip failed", tone="error"))
    (dm_call,) = [c for c in fake.find("POST", r"/channels/\d+/messages") if c.body["embeds"]]
    assert int(dm_call.path.split("/")[2]) != CHANNEL_ID
    assert dm_call.body["embeds"][0]["description"] == "your clip failed"

    fake.closed_dms.add(4343)
    await adapter.notify(PLACE, "4343", Message("you were mentioned"))
    (mention,) = fake.find("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert mention.body["content"] == "<@4343> you were mentioned"
    assert mention.body["allowed_mentions"]["users"] == [4343]
    assert mention.body["allowed_mentions"]["parse"] == []  # nobody else, no @everyone


# --- startup -------------------------------------------------------------------------------------------------


async def test_a_rejected_token_fails_start_clearly_and_is_never_logged(
    app: App, fake: FakeDiscord, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    wrong = make_settings(tmp_path, DISCORD_API_BASE_URL=fake.api_base, DISCORD_TOKEN="not-the-token")
    adapter = DiscordAdapter(app.service, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RuntimeError, match="Discord rejected DISCORD_TOKEN"):
        await adapter.start()
    await adapter.close()
    assert "not-the-token" not in caplog.text
    assert not fake.identifies


async def test_guild_sync_and_a_gateway_found_through_the_api(app: App, fake: FakeDiscord, tmp_path: Path) -> None:
    # Only the API base is configured: the gateway comes from GET /gateway/bot, as a proxy would have it.
    settings = make_settings(
        tmp_path, DISCORD_API_BASE_URL=fake.api_base, DISCORD_TOKEN=TOKEN, DISCORD_GUILD_IDS=str(GUILD_ID)
    )
    adapter = DiscordAdapter(app.service, settings)
    app.service.add_adapter(adapter)
    await adapter.start()
    try:
        assert fake.find("GET", r"/gateway/bot") and len(fake.identifies) == 1
        assert "global" not in fake.commands and {c["name"] for c in fake.commands[str(GUILD_ID)]} >= {"animate"}

        interaction = await fake.interact(Payloads(fake).command("animate-help"))
        await fake.wait_for(lambda: interaction.callback)
        assert interaction.callback is not None and interaction.acked_after is not None
        assert interaction.callback["type"] == 4 and interaction.callback["data"]["flags"] & EPHEMERAL
        assert "/animate-queue" in interaction.callback["data"]["embeds"][0]["description"]
    finally:
        await adapter.close()


# --- inbound -----------------------------------------------------------------------------------------------------


async def test_native_options_and_typed_tokens_reach_the_grammar(
    adapter: DiscordAdapter, fake: FakeDiscord, app: App
) -> None:
    options = {
        "prompt": "a lighthouse in a storm seed:42",
        "motion": "zoom-in",
        "motion2": "pan-left",
        "motion_strength": 0.8,
        "steps": 8,
        "frames": 24,
        "negative": "blurry, text",
        "guidance": 2.0,
        "aspect": "16:9",
        "format": "mp4",
    }
    role = 555
    interaction = await fake.interact(Payloads(fake).command("animate", options, person=Person(roles=(role,))))
    await fake.wait_for(lambda: fake.find("POST", r"/webhooks/.*"))
    assert interaction.callback == {"type": 5}
    job = app.repo.job(1)
    assert job is not None and job.prompt == "a lighthouse in a storm" and job.user_key == f"discord:{Person().user_id}"
    params = job.params
    assert params["motions"] == [["zoom-in", 0.8], ["pan-left", 0.8]]
    assert (params["steps"], params["frames"], params["seed"], params["guidance"]) == (8, 24, 42, 2.0)
    assert (params["negative_prompt"], params["aspect"], params["format"]) == ("blurry, text", "16:9", "mp4")
    assert job.max_bytes == 10 * 1024 * 1024  # the interaction's attachment_size_limit, capped by settings


async def _responder(adapter: DiscordAdapter, fake: FakeDiscord) -> tuple[InteractionResponder, Any]:
    payload = Payloads(fake).command("animate-queue")
    record = fake.register(payload)
    interaction = discord.Interaction(data=payload, state=adapter.client._connection)
    return adapter.responder(interaction), record


async def test_a_private_reply_after_a_public_deferral_stays_private(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    responder, record = await _responder(adapter, fake)
    await responder.defer(ephemeral=False)
    assert await responder.reply(Message("you are rate limited", tone="error"), ephemeral=True) is None
    token = record.payload["token"]
    assert fake.find("DELETE", rf"/webhooks/\d+/{token}/messages/@original")  # the public placeholder is gone
    (followup,) = fake.find("POST", rf"/webhooks/\d+/{token}")
    assert followup.body["flags"] & EPHEMERAL

    responder, record = await _responder(adapter, fake)
    await responder.defer(ephemeral=False)
    ref = await responder.reply(Message("queued #9"))
    assert ref == MessageRef(PLACE, str(record.original_id))  # the placeholder became the reply
    assert not fake.find("DELETE", rf"/webhooks/\d+/{record.payload['token']}/messages/@original")


async def test_a_slow_handler_is_deferred_before_discords_three_seconds(
    adapter: DiscordAdapter, fake: FakeDiscord
) -> None:
    assert DEFER_AFTER_S <= 1.5  # the timer leaves half of Discord's 3 s for the deferral itself
    responder, record = await _responder(adapter, fake)
    async with deadline(responder, ephemeral=True, after_s=0.01):
        # The handler is still busy (it waits for this very deferral): the timer, not the reply, acknowledged.
        await fake.wait_for(lambda: record.callback is not None, timeout=30)
    assert record.callback == {"type": 5, "data": {"flags": EPHEMERAL}}
    await responder.reply(Message("the queue is empty"), ephemeral=True)
    assert fake.messages[record.original_id]["content"] == "the queue is empty"

    quick, record = await _responder(adapter, fake)
    async with deadline(quick, ephemeral=True, after_s=0.01):
        await quick.reply(Message("fast"), ephemeral=False)
    # A timer still armed would fire at +0.01 s of loop time, before this later one ends: order, not speed.
    await asyncio.sleep(0.05)
    assert record.callback["type"] == 4 and not record.callback["data"].get("flags")
    assert len(fake.find("POST", rf"/interactions/{record.payload['id']}/.*")) == 1


# --- rendering ----------------------------------------------------------------------------------------------------


def test_rendering_follows_discords_limits_and_tones() -> None:
    assert render(Message("hi")) == {"content": "hi", "embeds": []}
    assert render(Message("hi"), editing=True)["view"] is None  # an edit removes old buttons
    error = render(Message("frames must be from 8 to 32", tone="error"))
    assert error["content"] is None and error["embeds"][0].colour == TONE_COLOURS["error"]

    long = render(Message("x" * 5000))["embeds"][0]
    assert len(long.description) == 4096 and long.description.endswith("…")
    many = render(Message("t", title="T", fields=tuple(Field(f"f{i}", "v" * 1024) for i in range(40))))["embeds"][0]
    assert len(many) <= EMBED_TOTAL_MAX and 0 < len(many.fields) <= 25

    running = render(Message("#4 generating step 3/4", progress=0.75))
    assert running["content"].startswith(progress_bar(0.75)) and "75%" in running["content"]
    assert progress_bar(0.0).count("█") == 0 and progress_bar(1.5).count("░") == 0

    view = render(Message("clip", title="#4", buttons=tuple(Button(a, 4, a) for a in ("reroll", "approve"))))["view"]
    assert [item.custom_id for item in view.children] == ["animatebot:reroll:4", "animatebot:approve:4"]
    assert view.timeout is None and view.is_persistent()

    assert thread_name("  #1  a\ncat  ") == "#1 a cat" and thread_name("") == "animation"


def test_motion_options_become_one_grammar_value() -> None:
    assert motion_option("zoom-in", "pan-left", 0.8) == "zoom-in@0.8+pan-left@0.8"
    assert motion_option(None, "tilt-up", None) == "tilt-up"
    assert motion_option(None, None, 0.5) is None
    assert str(MotionSpec("zoom-in", 0.8)) == "zoom-in@0.8"
