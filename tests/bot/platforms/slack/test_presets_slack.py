"""The command table on Slack: /animate-preset (a slash command the manifest declares), preset:<name> in
/animate with typed keys winning, the typo refusal, and Save as preset through its view, over the fake Slack."""

from __future__ import annotations

from generation.params import GenerationParams
from tests.bot.platforms.slack.harness import SlackBot
from tests.fakes.slack_server import interactive_body, view_submission

MEMBER = "UMEMBER01"


async def answered(bot: SlackBot, command: str, text: str, trigger: str) -> str:
    status, body, took = await bot.command(command, text, trigger_id=trigger)
    assert status == 200 and took < 3.0
    if body:  # a refusal rides in the acknowledgement
        return body
    await bot.fake.wait_for(lambda: bot.fake.responses_for(trigger))
    return "\n".join(r.get("text", "") for r in bot.fake.responses_for(trigger))


async def test_presets_over_slack(bot: SlackBot) -> None:
    bot.app.queue.set_paused(True)  # jobs are created, none runs
    saved = await answered(bot, "/animate-preset", "save windy motion:pan-left frames:8", "p-1")
    assert "preset windy saved: motion:pan-left frames:8" in saved
    assert "did you mean motion?" in await answered(bot, "/animate", "a kite motoin:zoom-in", "p-typo")
    assert "frames must be a whole number" in await answered(bot, "/animate-preset", "save bad frames:1", "p-bad")

    await bot.command("/animate", "a kite preset:windy steps:1", trigger_id="p-2")
    await bot.command("/animate", "a kite preset:windy frames:16 steps:1", trigger_id="p-3")
    await bot.fake.wait_for(lambda: bot.app.repo.job(2) is not None and bot.app.repo.job(2).message_id)  # type: ignore[union-attr]
    first, second = (GenerationParams.from_dict(bot.app.repo.job(n).params) for n in (1, 2))  # type: ignore[union-attr]
    assert (first.frames, first.motion_text) == (8, "pan-left@0.75")
    assert (second.frames, second.motion_text) == (16, "pan-left@0.75")

    view = (await bot.open_view("animatebot:preset:1", MEMBER, "p-click"))["view"]
    assert view["callback_id"] == "animatebot_preset" and [b["block_id"] for b in view["blocks"]] == ["name"]
    status, body, _ = await bot.send(interactive_body(view_submission(view, user=MEMBER, values={"name": "Kite"})))
    assert (status, body) == (200, "")
    await bot.fake.wait_for(lambda: bot.fake.calls_to("chat.postEphemeral"))
    (note,) = bot.fake.calls_to("chat.postEphemeral")
    assert note.args["user"] == MEMBER and "preset kite saved: motion:pan-left steps:1 frames:8" in note.args["text"]
    # The member's preset is theirs: the owner who typed /animate-preset list sees only windy.
    listed = await answered(bot, "/animate-preset", "list", "p-list")
    assert "windy: motion:pan-left frames:8" in listed and "kite" not in listed
