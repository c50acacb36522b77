"""Clips stay where they were made, end to end on Discord: one bot process in two guilds (A and B) of the
fake Discord, the real discord.py client, the real service and database, the fake engine. Someone in B
asking for A's clips (by number, by words of their prompts, by person) gets what a missing clip gets; a
private channel's clips show only there; /animate-show follows the target channel's safety policy and is
a re-post that Delete removes with the clip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat import Button
from tests.bot.platforms.discord.harness import (
    EPHEMERAL,
    DiscordBot,
    settings_for,
    start_bot,
    stop_bot,
    text_of,
)
from tests.fakes.discord_server import (
    CHANNEL_B_ID,
    CHANNEL_ID,
    GUILD_ID,
    FakeDiscord,
    Person,
    UserOption,
)
from tests.fakes.engine import FakeEngine

FAST = {"steps": 1, "frames": 8}
SECRET_ID = 900_000_000_000_000_031  # a private channel of guild A
NSFW_ID = 900_000_000_000_000_032  # age-restricted channels of guild A
NSFW_2_ID = 900_000_000_000_000_033
ALICE = Person()  # a member of A
CAROL = Person(user_id=300, name="carol", manage_guild=True)  # an admin of A
BOB = Person(user_id=200, name="bob", manage_guild=True)  # the owner of B (Manage Server there)
MISSING = 9_999


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    server.add_private_channel(SECRET_ID, "secret")
    for channel_id in (NSFW_ID, NSFW_2_ID):
        server.add_channel({"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID), "name": "after-dark",
                            "nsfw": True})  # fmt: skip
    yield server
    await server.close()


async def ask(bot: DiscordBot, name: str, options: dict[str, Any] | None = None, **kw: Any) -> str:
    """Run a command and return its private answer's text."""
    answer = await bot.answer(await bot.command(name, options, **kw))
    assert int(answer.get("flags") or 0) & EPHEMERAL, answer
    return text_of(answer)


async def click(bot: DiscordBot, action: str, job_id: int, message_id: int, person: Person) -> str:
    """Click a clip button; the message is given it first when it has none for that job (a card of another
    server's clip, as a re-post made before clips stayed in their server would have)."""
    custom_id = Button(action, job_id, action).custom_id
    message = bot.fake.messages[message_id]
    if custom_id not in [c["custom_id"] for row in message["components"] for c in row["components"]]:
        button = {"type": 2, "style": 2, "label": action, "custom_id": custom_id}
        message["components"] = [{"type": 1, "components": [button]}]
    interaction = await bot.fake.interact(
        bot.payloads.click(Button(action, job_id, action).custom_id, message_id, person=person)
    )
    await bot.acked(interaction)
    pattern = rf"/webhooks/\d+/{interaction.payload['token']}"
    (sent,) = await bot.fake.wait_for(lambda: bot.fake.find("POST", pattern))
    return text_of(sent.body)


def as_missing(text: str, job_id: int) -> str:
    return text.replace(f"#{job_id}", "#N")


async def test_guild_b_gets_nothing_of_guild_a(fake: FakeDiscord, tmp_path: Path) -> None:
    engine = FakeEngine(gated=True)
    bot = await start_bot(settings_for(fake, tmp_path), fake, engine=engine)
    try:
        await bot.answer(await bot.command("animate", {"prompt": "zebra on a beach", **FAST}))
        await bot.answer(await bot.command("animate", {"prompt": "zebra secret plan", **FAST}, channel_id=SECRET_ID))
        secret = bot.app.repo.job(2)
        assert secret is not None and secret.private_channel == str(SECRET_ID)
        assert await bot.app.repo.db.offload(engine.wait_for_step)  # job 1 runs, job 2 waits

        # The queue, seen from B, from A's public channel and from A's private channel.
        in_b = await ask(bot, "animate-queue", person=BOB, channel_id=CHANNEL_B_ID)
        assert "zebra" not in in_b and "0 running, 0 waiting" in in_b
        in_a = await ask(bot, "animate-queue")
        assert "zebra on a beach" in in_a and "secret" not in in_a and "1 running, 0 waiting" in in_a
        in_secret = await ask(bot, "animate-queue", channel_id=SECRET_ID)
        assert "zebra on a beach" in in_secret and "zebra secret plan" in in_secret

        engine.release(2)
        await bot.clip_posted(2)
        # B's own clip, so that B has something of its own to list and buttons to click.
        await bot.answer(
            await bot.command("animate", {"prompt": "a heron", **FAST}, person=BOB, channel_id=CHANNEL_B_ID)
        )
        engine.release(1)
        clips = await bot.clip_posted(3)
        (b_card,) = [m for m in clips if "#3" in text_of(m)]
        a_cards = {m["id"] for m in clips if "#3" not in text_of(m)}

        for job_id in (1, 2):
            assert as_missing(await ask(bot, "animate-show", {"job": job_id}, person=BOB, channel_id=CHANNEL_B_ID),
                              job_id) == as_missing(
                await ask(bot, "animate-show", {"job": MISSING}, person=BOB, channel_id=CHANNEL_B_ID), MISSING
            )  # fmt: skip
            for action in ("reroll", "approve", "delete", "reveal"):
                answered = await click(bot, action, job_id, int(b_card["id"]), BOB)
                missing = await click(bot, action, MISSING, int(b_card["id"]), BOB)
                assert as_missing(answered, job_id) == as_missing(missing, MISSING), action
        searched = await ask(bot, "animate-history", {"search": "zebra"}, person=BOB, channel_id=CHANNEL_B_ID)
        assert searched.replace("zebra", "okapi") == await ask(
            bot, "animate-history", {"search": "okapi"}, person=BOB, channel_id=CHANNEL_B_ID
        )
        by_alice = await ask(bot, "animate-history", {"user": UserOption(ALICE.user_id, "alice")}, person=BOB,
                             channel_id=CHANNEL_B_ID)  # fmt: skip
        assert "zebra" not in by_alice and "No clips found." in by_alice
        listed = await ask(bot, "animate-history", person=BOB, channel_id=CHANNEL_B_ID)
        assert "heron" in listed and "zebra" not in listed
        reviewed = await ask(bot, "animate-review", {"job": 1}, person=BOB, channel_id=CHANNEL_B_ID)
        assert "zebra" not in reviewed and "heron" in reviewed
        assert "zebra" not in await ask(bot, "animate-queue", person=BOB, channel_id=CHANNEL_B_ID)

        # Nothing of A was posted in B, no job was made, and A's clips are all still there.
        assert bot.app.repo.count_status("queued", "running", "succeeded", "failed", "cancelled") == 3
        assert a_cards <= {m["id"] for m in fake.messages.values()}
        assert not any("zebra" in text_of(m) for m in fake.in_channel(CHANNEL_B_ID) if not m["flags"] & EPHEMERAL)

        # In A, the private channel's clip is listed only there, also among a person's clips.
        alice = {"user": UserOption(ALICE.user_id, "alice")}
        public = await ask(bot, "animate-history", {**alice, "search": "zebra"})
        assert "zebra on a beach" in public and "secret" not in public
        assert "there is no clip #2" in await ask(bot, "animate-show", {"job": 2})
        private = await ask(bot, "animate-history", {**alice, "search": "zebra"}, channel_id=SECRET_ID)
        assert "zebra on a beach" in private and "zebra secret plan" in private
    finally:
        await stop_bot(bot)


async def test_show_follows_the_target_channel_and_delete_removes_the_reposts(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    bot = await start_bot(settings_for(fake, tmp_path, ANIMATEBOT_SAFETY_THRESHOLD="0"), fake)  # every clip flagged
    try:
        await bot.answer(await bot.command("animate", {"prompt": "a beach at night", **FAST}, channel_id=NSFW_ID))
        (original,) = await bot.clip_posted(1)
        job = bot.app.repo.job(1)
        assert job is not None and job.safety_decision == "allow" and job.clip_message_id == original["id"]

        # A normal channel blocks flagged clips: nothing is posted there.
        assert "withheld in this channel" in await ask(bot, "animate-show", {"job": 1})
        # Another age-restricted channel allows it: a re-post, the clip's own message untouched.
        assert "posted again" in await ask(bot, "animate-show", {"job": 1}, channel_id=NSFW_2_ID)
        # A normal channel whose admin chose spoiler: a spoiler file there.
        await bot.answer(await bot.command("animate-admin", {"policy": "spoiler"}, subcommand="safety", person=CAROL))
        assert "posted again" in await ask(bot, "animate-show", {"job": 1})
        clips = await bot.clip_posted(3)
        (allowed,) = [m for m in clips if int(m["channel_id"]) == NSFW_2_ID]
        (hidden,) = [m for m in clips if int(m["channel_id"]) == CHANNEL_ID]
        assert not allowed["attachments"][0]["filename"].startswith("SPOILER_")
        assert hidden["attachments"][0]["filename"].startswith("SPOILER_")
        assert bot.app.repo.job(1).clip_message_id == original["id"]  # type: ignore[union-attr]
        assert [r.message_id for r in bot.app.repo.reposts(1)] == [allowed["id"], hidden["id"]]

        # A Reroll from the re-post in the normal channel is made there, under that channel's policy.
        await click(bot, "reroll", 1, int(hidden["id"]), ALICE)
        await bot.clip_posted(4)
        reroll = bot.app.repo.job(2)
        assert reroll is not None and reroll.parent_id == 1 and reroll.channel_id == str(CHANNEL_ID)
        assert not reroll.age_restricted and reroll.safety_decision == "spoiler"

        # Delete on the clip's own card removes the re-posts too.
        assert "deleted #1" in await click(bot, "delete", 1, int(original["id"]), ALICE)
        for message in (original, allowed, hidden):
            assert int(message["id"]) not in fake.messages
        assert bot.app.repo.reposts(1) == []
    finally:
        await stop_bot(bot)
