"""Variants in the console (the embedded bot on the tiny pipeline): a set posted in one message, Pick, Vary,
Reroll of the set, the server's default number of takes, and a set counting its takes in the limits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from generation.params import GenerationParams
from storage.scope import EVERYWHERE
from tests.harness import Bot, make_settings, start_bot


async def test_four_takes_in_one_message_then_pick_and_vary(bot: Bot) -> None:
    reply = await bot.say("/animate a kite in the wind variants:4 frames:8 steps:1 seed:41")
    assert "queued #1" in reply
    await bot.idle()
    job = bot.app.repo.job(1)
    assert job is not None and job.status == "succeeded" and job.variant_count == 4
    takes = job.variants or []
    assert [t["seed"] for t in takes] == [41, 42, 43, 44]
    assert all(Path(t["path"]).read_bytes()[:6] == b"GIF89a" for t in takes)
    # One message: four paths, each take's own row of actions, one Reroll for the set.
    message = bot.printed[bot.printed.index("#1: 4 takes") :]
    paths = re.findall(r"^clip (\d): (\S+)", message, re.M)
    assert [int(n) for n, _ in paths] == [1, 2, 3, 4] and [p for _, p in paths] == [t["path"] for t in takes]
    assert "1: seed 41 · 2: seed 42 · 3: seed 43 · 4: seed 44" in message
    assert "pick 1 2" in message and "vary 1 3 subtle" in message and "reroll 1" in message

    picked = await bot.say("pick 1 2")
    await bot.idle()
    assert "#2: take 2 of #1" in picked
    pick = bot.app.repo.job(2)
    assert pick is not None and pick.lineage == "pick" and pick.parent_id == 1 and pick.seed == 42
    assert pick.thread_id == job.thread_id and pick.delivery == "clip"
    assert Path(pick.output_path or "").read_bytes() == Path(takes[1]["path"]).read_bytes()
    card = bot.printed[bot.printed.index("#2 (picked from #1)") :]
    assert f"clip: {pick.output_path}" in card and "approve 2" in card and "reject 2" in card

    await bot.say("vary 1 3 strong")
    await bot.say("vary 2 subtle")
    await bot.idle()
    strong, subtle = bot.app.repo.job(3), bot.app.repo.job(4)
    assert strong is not None and subtle is not None
    for varied, parent, seed, blend in ((strong, 1, 43, 0.5), (subtle, 2, 42, 0.15)):
        p = GenerationParams.from_dict(varied.params)
        assert varied.status == "succeeded" and varied.lineage == "vary" and varied.parent_id == parent
        assert (p.seed, p.vary_blend, p.variants) == (seed, blend, 1) and p.vary_seed is not None
        assert varied.seed == seed
    assert "#4 (varied from #2 (subtle))" in bot.printed
    assert f"seed 42 blended 0.15 towards seed {GenerationParams.from_dict(subtle.params).vary_seed}" in bot.printed

    await bot.say("reroll 1")
    await bot.idle()
    reroll = bot.app.repo.job(5)
    assert reroll is not None and reroll.variant_count == 4 and len(reroll.variants or []) == 4
    assert "#5 (reroll of #1): 4 takes" in bot.printed

    await bot.say("reroll 4")  # a varied clip rerolled: a new seed, no blend
    await bot.idle()
    again = bot.app.repo.job(6)
    assert again is not None and again.status == "succeeded"
    assert GenerationParams.from_dict(again.params).vary_seed is None

    assert "deleted #1" in await bot.say("delete 1", user="boss")
    assert not any(Path(t["path"]).exists() for t in takes)
    assert Path(pick.output_path or "").exists()  # the picked take has a file of its own


async def test_bad_picks_and_varies_get_one_line_and_make_no_job(bot: Bot) -> None:
    await bot.say("/animate a fox frames:8 steps:1 variants:2")
    await bot.idle()
    assert "has takes 1 to 2" in await bot.say("pick 1 3")
    assert "usage: vary <job> [<take>] subtle|strong" in await bot.say("vary 1 wobbly")
    assert "usage: pick <job> <take>" in await bot.say("pick 1")
    assert "variants must be one of 1, 2, 4" in await bot.say("/animate a fox variants:3")
    assert "variants take clips of up to 32 frames" in await bot.say("/animate a fox frames:40 variants:2")
    assert len(bot.app.repo.history(EVERYWHERE, limit=10)) == 1


async def test_a_server_default_of_takes_and_a_set_counting_its_takes(tmp_path: Path, tiny_engine: Any) -> None:
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_PER_HOUR=5), tiny_engine)
    try:
        assert "only admins" in await bot.say("/animate-admin variants 2")
        assert "now makes 2 takes here" in await bot.say("/animate-admin variants 2", user="boss")
        await bot.say("/animate a fox frames:8 steps:1")
        await bot.say("/animate a fox frames:8 steps:1 variants:1")
        await bot.idle()
        first, second = bot.app.repo.job(1), bot.app.repo.job(2)
        assert first is not None and first.variant_count == 2 and len(first.variants or []) == 2
        assert second is not None and second.variant_count == 1 and second.variants is None
        # 2 + 1 clips used of 5 an hour: a set of four more would make 7.
        refusal = await bot.say("/animate a fox frames:8 steps:1 variants:4")
        assert "reached 5 clips per hour (this one counts as 4" in refusal and bot.app.repo.job(3) is None
        assert "queued #3" in await bot.say("/animate a fox frames:8 steps:1 variants:2")
    finally:
        await bot.app.stop()
