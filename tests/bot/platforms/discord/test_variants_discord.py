"""A set of takes on Discord (fake gateway and REST, real discord.py, real service, tiny pipeline): one message
with the takes as its attachments, a row of buttons per take, and Pick and Vary working from their clicks."""

from __future__ import annotations

from tests.bot.platforms.discord.harness import DiscordBot, custom_ids, text_of


async def test_four_takes_arrive_in_one_message_and_pick_and_vary_work(bot: DiscordBot) -> None:
    fake = bot.fake
    await bot.acked(
        await bot.command("animate", {"prompt": "a kite in the wind", "steps": 1, "frames": 8, "variants": 4})
    )
    (message,) = await bot.clip_posted()
    job = bot.app.repo.job(1)
    assert job is not None and job.variant_count == 4
    # One message, four files, each within its share of the request's budget.
    assert [a["filename"] for a in message["attachments"]] == [t["path"].rsplit("/", 1)[-1] for t in job.variants or []]
    assert all(a["size"] <= job.max_bytes for a in message["attachments"])
    assert job.max_bytes * 4 <= bot.discord.max_upload_bytes
    rows = [[c["custom_id"] for c in row["components"]] for row in message["components"]]
    assert rows[:4] == [
        [f"animatebot:pick:1:{n}", f"animatebot:vary-subtle:1:{n}", f"animatebot:vary-strong:1:{n}"]
        for n in range(1, 5)
    ]
    assert "animatebot:reroll:1" in rows[4]
    seeds = [t["seed"] for t in job.variants or []]
    assert len(set(seeds)) == 4 and f"1: seed {seeds[0]}" in text_of(message)

    clip_id = int(message["id"])
    pick = await fake.interact(bot.payloads.click("animatebot:pick:1:3", clip_id))
    await bot.acked(pick)
    cards = await bot.clip_posted(count=2)
    card = next(m for m in cards if int(m["id"]) != clip_id)
    assert card["channel_id"] == message["channel_id"]  # in the set's thread
    assert len(card["attachments"]) == 1 and "#2 (picked from #1)" in text_of(card)
    assert "animatebot:approve:2" in custom_ids(card) and "animatebot:vary-subtle:2" in custom_ids(card)
    picked = bot.app.repo.job(2)
    assert picked is not None and picked.seed == seeds[2] and picked.lineage == "pick"

    vary = await fake.interact(bot.payloads.click("animatebot:vary-subtle:1:2", clip_id))
    await bot.acked(vary)
    await bot.clip_posted(count=3)
    varied = bot.app.repo.job(3)
    assert varied is not None and varied.lineage == "vary" and varied.parent_id == 1 and varied.seed == seeds[1]
    assert varied.status == "succeeded" and varied.variant_count == 1
    assert any("varied from #1 (subtle)" in text_of(m) for m in fake.messages.values())
