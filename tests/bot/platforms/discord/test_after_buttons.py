"""Smooth and Extend buttons on a Discord clip card: real discord.py against the fake Discord (issue 22)."""

from __future__ import annotations

from pathlib import Path

from generation.media.decode import read_clip
from tests.bot.platforms.discord.harness import DiscordBot, custom_ids, text_of
from tests.fakes.discord_server import FakeDiscord

FAST = {"steps": 1, "frames": 8, "format": "mp4"}


async def test_smooth_and_extend_clicks_post_new_clips_in_the_thread(bot: DiscordBot, fake: FakeDiscord) -> None:
    await bot.acked(await bot.command("animate", {"prompt": "a kite on the beach", **FAST}))
    (clip,) = await bot.clip_posted()
    clip_id = int(clip["id"])
    assert custom_ids(clip)[-3:] == ["animatebot:smooth:1", "animatebot:upscale:1", "animatebot:extend:1"]

    for action in ("smooth", "extend"):
        click = await fake.interact(bot.payloads.click(f"animatebot:{action}:1", clip_id))
        await bot.acked(click)
    clips = await bot.clip_posted(count=3)

    smoothed, extended = bot.app.repo.job(2), bot.app.repo.job(3)
    assert smoothed is not None and extended is not None
    assert (smoothed.lineage, extended.lineage) == ("smooth", "extend")
    assert len(read_clip(Path(smoothed.output_path or ""))[0]) == 15
    assert len(read_clip(Path(extended.output_path or ""))[0]) == 24
    new = [m for m in clips if int(m["id"]) != clip_id]
    assert all(m["channel_id"] == clip["channel_id"] for m in new)  # in the clip's thread
    fields = [{f["name"]: f["value"] for f in m["embeds"][0]["fields"]} for m in new]
    assert any("smoothed x2 to 15 @ 16 fps" in f["Frames"] for f in fields), fields
    assert any("extend of #1" in text_of(m) or m["embeds"][0]["title"].endswith("(extend of #1)") for m in new)


async def test_the_extend_command_takes_a_new_prompt_and_a_length(bot: DiscordBot) -> None:
    await bot.acked(await bot.command("animate", {"prompt": "a paper boat", **FAST}))
    await bot.clip_posted()
    options = {"job": 1, "prompt": "the boat sails into a storm", "frames": 8}
    await bot.acked(await bot.command("animate-extend", options))
    await bot.clip_posted(count=2)
    extended = bot.app.repo.job(2)
    assert extended is not None and extended.lineage == "extend" and extended.parent_id == 1
    assert extended.prompt == "the boat sails into a storm"
    assert len(read_clip(Path(extended.output_path or ""))[0]) == 16
