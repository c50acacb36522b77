"""The command table on Discord: every synced command and option is the table's; presets end to end
(save, use with typed keys winning, Save as preset through its modal) over the local fake Discord."""

from __future__ import annotations

from typing import Any

from bot.commands import COMMANDS
from tests.bot.platforms.discord.harness import EPHEMERAL, DiscordBot, custom_ids, text_of

OPTION_TYPES = {"text": 3, "int": 4, "bool": 5, "user": 6, "channel": 7, "role": 8, "float": 10, "file": 11}


def synced_options(command: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return sorted((o["name"], o["type"], o.get("required", False)) for o in command.get("options", []))


async def test_the_synced_commands_are_the_table(bot: DiscordBot) -> None:
    synced = {c["name"]: c for c in bot.fake.commands["global"] if c.get("type", 1) == 1}
    assert set(synced) == {spec.name for spec in COMMANDS}
    for spec in COMMANDS:
        command = synced[spec.name]
        assert command["description"] == spec.help[:100]
        if spec.subcommands:
            subs = {o["name"]: o for o in command["options"]}
            assert list(subs) == [sub.name for sub in spec.subcommands]
            for sub in spec.subcommands:
                expected = sorted((o.native_name, OPTION_TYPES[o.kind], o.required) for o in sub.options if o.offered)
                assert synced_options(subs[sub.name]) == expected, (spec.name, sub.name)
        else:
            expected = sorted((o.native_name, OPTION_TYPES[o.kind], o.required) for o in spec.options if o.offered)
            assert synced_options(command) == expected, spec.name
    frames = next(o for o in synced["animate"]["options"] if o["name"] == "frames")
    assert (frames["min_value"], frames["max_value"]) == (8, 64)
    aspect = next(o for o in synced["animate"]["options"] if o["name"] == "aspect")
    assert "16:9" in [c["value"] for c in aspect["choices"]]


async def test_presets_over_discord(bot: DiscordBot) -> None:
    saved = await bot.answer(
        await bot.command("animate-preset", {"name": "windy", "tokens": "motion:pan-left frames:8"}, subcommand="save")
    )
    assert saved["flags"] & EPHEMERAL and "preset windy saved: motion:pan-left frames:8" in text_of(saved)
    typo = await bot.answer(await bot.command("animate", {"prompt": "a kite motoin:zoom-in"}))
    assert "unknown option 'motoin' (did you mean motion?)" in text_of(typo)

    await bot.acked(await bot.command("animate", {"prompt": "a kite preset:windy", "steps": 1}))
    (clip,) = await bot.clip_posted()
    job = bot.app.repo.job(1)
    assert job is not None and job.params["frames"] == 8 and job.motions_used.startswith("pan-left")  # type: ignore[union-attr]

    # The native frames option is typed by the person: it wins over the preset's.
    await bot.acked(await bot.command("animate", {"prompt": "a kite preset:windy", "steps": 1, "frames": 16}))
    await bot.clip_posted(count=2)
    assert bot.app.repo.job(2).params["frames"] == 16  # type: ignore[union-attr]

    assert "animatebot:preset:1" in custom_ids(clip)
    click = await bot.fake.interact(bot.payloads.click("animatebot:preset:1", int(clip["id"])))
    modal = await bot.acked(click)
    assert modal["type"] == 9 and modal["data"]["title"] == "Save #1 as a preset"
    submit = bot.payloads.modal_submit(modal["data"], ["Kite"], int(clip["id"]))
    answer = await bot.answer(await bot.fake.interact(submit))
    assert answer["flags"] & EPHEMERAL and "preset kite saved: motion:pan-left steps:1 frames:8" in text_of(answer)
    listed = await bot.answer(await bot.command("animate-preset", subcommand="list"))
    assert "kite: " in text_of(listed) and "windy: " in text_of(listed)
