"""Presets through the console and the service: save, use (typed keys win), a person's default, Save as
preset on a clip, server presets for admins, and one server never seeing, using or deleting another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import build_app
from bot.chat import Actor, Invocation, Place
from storage.models import Job, Preset
from tests.bot.service.test_clip_scope import Recorder
from tests.fakes.chat import FakeChat
from tests.fakes.engine import FakeEngine
from tests.harness import Bot, make_settings, start_bot


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    engine = FakeEngine()
    running = await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=5), engine)
    running.engine = engine  # type: ignore[attr-defined]
    yield running
    await running.app.stop()


def made(bot: Bot) -> list[tuple[str, int, tuple[str, ...]]]:
    """(prompt, frames, motions) of every clip the engine made, in order."""
    return [(p.prompt, p.frames, tuple(m.name for m in p.motions)) for p in bot.engine.generated]  # type: ignore[attr-defined]


async def test_the_issue_console_run_a_preset_then_typed_keys_win(bot: Bot) -> None:
    saved = await bot.say("/animate-preset save windy motion:pan-left frames:8")
    assert "preset windy saved: motion:pan-left frames:8" in saved
    assert "queued #1" in await bot.say("/animate a kite preset:windy steps:1")
    assert "queued #2" in await bot.say("/animate a kite preset:windy frames:16 steps:1")
    await bot.idle()
    assert made(bot) == [("a kite", 8, ("pan-left",)), ("a kite", 16, ("pan-left",))]
    # Someone else's preset of the same name is not theirs (and there is no server preset).
    assert "there is no preset 'windy' here" in await bot.say("/animate a kite preset:windy", user="bob")


async def test_bad_preset_input_is_one_line_and_saves_nothing(bot: Bot) -> None:
    assert (await bot.say("/animate-preset save w frames:99")).strip() == (
        "frames must be a whole number from 8 to 64 (got 99)"
    )
    assert "did you mean motion?" in await bot.say("/animate-preset save w motoin:zoom-in")
    assert "did you mean motion?" in await bot.say("/animate a cat motoin:zoom-in")
    assert "there is no preset 'nope' here" in await bot.say("/animate a cat preset:nope")
    with bot.app.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Preset)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0


async def test_a_default_preset_applies_to_every_animate_until_cleared(bot: Bot) -> None:
    await bot.say("/animate-preset save short frames:8 steps:1")
    assert "no preset 'long' here" in await bot.say("/animate-preset default long")
    assert "short is now your default" in await bot.say("/animate-preset default short")
    assert "short (your default): frames:8 steps:1" in await bot.say("/animate-preset list")
    await bot.say("/animate a boat")
    await bot.say("/animate a big boat frames:24")
    await bot.say("/animate a small boat steps:1", user="bob")  # bob has no default
    await bot.idle()
    # The fair queue runs bob's before alice's second: compare by prompt.
    assert {prompt: frames for prompt, frames, _ in made(bot)} == {"a boat": 8, "a big boat": 24, "a small boat": 16}
    assert "no default preset" in await bot.say("/animate-preset default off")
    await bot.say("/animate a boat steps:1")
    await bot.idle()
    assert made(bot)[-1][1] == 16
    assert "preset short deleted" in await bot.say("/animate-preset delete short")
    assert "no presets yet" in await bot.say("/animate-preset list")


async def test_save_as_preset_keeps_a_clips_options_not_its_prompt_nor_seed(bot: Bot) -> None:
    await bot.say("/animate a lighthouse motion:zoom-in@0.5 frames:8 steps:1 seed:7 loop:pingpong")
    await bot.idle()
    assert "preset 1" in bot.printed  # the card offers the button
    saved = await bot.say("preset 1 Lighthouse")
    assert "preset lighthouse saved: motion:zoom-in@0.5 steps:1 frames:8 loop:pingpong" in saved
    assert "a preset name" in await bot.say("preset 1 bad name!")
    assert "queued #2" in await bot.say("/animate a harbour preset:lighthouse")
    await bot.idle()
    params = bot.engine.generated[-1]  # type: ignore[attr-defined]
    assert (params.prompt, params.frames, params.loop, params.steps) == ("a harbour", 8, "pingpong", 1)
    assert [(m.name, m.strength) for m in params.motions] == [("zoom-in", 0.5)]


# --- servers ---------------------------------------------------------------------------------------------

GUILD_A = Place("discord", "c1", "guild-a")
GUILD_B = Place("discord", "c9", "guild-b")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[object]:
    app = build_app(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=5), engine=FakeEngine())
    app.service.add_adapter(FakeChat(platform="discord"))
    await app.start()
    yield app.service
    await app.stop(grace_s=5)


async def run(service: object, user: str, place: Place, text: str, admin: bool = False) -> str:
    responder = Recorder(place)
    inv = Invocation(Actor("discord", user, user.title(), platform_admin=admin), place, responder)
    name, _, rest = text.partition(" ")
    await service.handle_command(inv, name, rest)  # type: ignore[attr-defined]
    return "\n".join(m.plain() for m in responder.answers)


async def test_another_server_cannot_use_list_or_delete_a_preset(service: object) -> None:
    assert "saved" in await run(service, "alice", GUILD_A, "animate-preset save windy motion:pan-left frames:8")
    assert "saved" in await run(service, "boss", GUILD_A, "animate-preset save team steps:8 server:yes", admin=True)
    # Server presets are for admins; a member is refused and nothing is saved.
    refused = await run(service, "alice", GUILD_A, "animate-preset save mine steps:8 server:yes")
    assert "only this server's admins" in refused
    # A member of server A sees her own and the server's; server B sees neither, even for the same person.
    listed = await run(service, "alice", GUILD_A, "animate-preset list")
    assert "windy: motion:pan-left frames:8" in listed and "team (server): steps:8" in listed
    assert "no presets yet" in await run(service, "alice", GUILD_B, "animate-preset list")
    assert "no preset 'windy' here" in await run(service, "alice", GUILD_B, "animate a kite preset:windy")
    assert "no preset 'team' here" in await run(service, "carol", GUILD_B, "animate a kite preset:team")
    assert "no preset 'windy' here" in await run(service, "alice", GUILD_B, "animate-preset delete windy")
    assert "no preset 'team' here" in await run(
        service, "boss", GUILD_B, "animate-preset delete team server:yes", admin=True
    )
    assert "no preset 'windy' here" in await run(service, "alice", GUILD_B, "animate-preset default windy")
    # Still there on server A: another member uses the server preset, not alice's own.
    assert "queued" in await run(service, "dave", GUILD_A, "animate a kite preset:team frames:8")
    assert "no preset 'windy' here" in await run(service, "dave", GUILD_A, "animate a kite preset:windy")
    assert "windy" in await run(service, "alice", GUILD_A, "animate-preset list")
