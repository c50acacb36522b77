"""Smooth, Upscale and Extend on a finished clip, through the console on the tiny pipeline (issue 22)."""

from __future__ import annotations

import re
from pathlib import Path

from generation.media.decode import read_clip
from generation.params import GenerationParams
from tests.harness import Bot

SMALL = "steps:1"


def job_ids(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"queued #(\d+)", text)]


def frames_of(bot: Bot, job_id: int) -> tuple[int, tuple[int, int], int]:
    job = bot.app.repo.job(job_id)
    assert job is not None and job.status == "succeeded", (job and job.status, job and job.error)
    frames, fps = read_clip(Path(job.output_path or ""))
    return len(frames), (frames[0].shape[1], frames[0].shape[0]), fps


async def test_extend_continues_the_clip_into_a_new_card(bot: Bot) -> None:
    [first] = job_ids(await bot.say(f"/animate a kite frames:16 {SMALL} format:mp4"))
    await bot.idle()
    assert f"smooth {first}, upscale {first}, extend {first}" in bot.printed  # the card's actions
    [second] = job_ids(await bot.say(f"extend {first}"))
    await bot.idle()
    assert frames_of(bot, second)[0] == 32  # 16 more frames: one clip, the old and the new joined
    job = bot.app.repo.job(second)
    assert job is not None and job.parent_id == first and job.lineage == "extend"
    params = GenerationParams.from_dict(job.params)
    assert (params.action, params.extend, params.frames) == ("extend", 16, 32)
    assert f"(extend of #{first})" in bot.printed
    # A new prompt makes the story go on, with its own length.
    [third] = job_ids(await bot.say(f"/animate-extend {second} the kite flies into the clouds frames:8"))
    await bot.idle()
    assert frames_of(bot, third)[0] == 40
    assert bot.app.repo.job(third).prompt == "the kite flies into the clouds"  # type: ignore[union-attr]


async def test_smooth_button_doubles_frames_and_rate_of_the_clip_as_posted(bot: Bot) -> None:
    [first] = job_ids(await bot.say(f"/animate a kite frames:8 {SMALL} format:mp4 loop:pingpong"))
    await bot.idle()
    [second] = job_ids(await bot.say(f"smooth {first}"))
    await bot.idle()
    count, size, fps = frames_of(bot, second)
    assert (count, size, fps) == (2 * 15 - 2, (512, 512), 16)  # 8 -> 15 frames, played as a ping-pong
    assert "smoothed x2 to 15, ping-pong loop of 28 @ 16 fps" in bot.printed


async def test_upscale_button_makes_the_card_show_the_new_size(bot: Bot) -> None:
    [first] = job_ids(await bot.say(f"/animate a kite frames:8 {SMALL} format:mp4"))
    await bot.idle()
    [second] = job_ids(await bot.say(f"upscale {first}"))
    await bot.idle()
    assert frames_of(bot, second)[:2] == (8, (1024, 1024))
    assert "1024x1024 (1:1, upscaled x2 from 512x512)" in bot.printed
    refusal = await bot.say(f"upscale {second}")
    assert "already upscaled x2" in refusal and not job_ids(refusal)


async def test_actions_refuse_what_they_cannot_do_in_one_line(bot: Bot) -> None:
    assert "no longer exists" in await bot.say("smooth 99")
    assert "frames must be a whole number from 8 to 64" in await bot.say("/animate-extend 1 frames:200")
    bot.app.queue.set_paused(True)
    [waiting] = job_ids(await bot.say(f"/animate a kite frames:8 {SMALL}"))
    assert "is not finished; extend works on a finished clip" in await bot.say(f"extend {waiting}")
    bot.app.queue.set_paused(False)
    await bot.idle()
