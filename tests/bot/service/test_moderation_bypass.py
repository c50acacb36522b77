"""The block list through the console: digits, symbols and scene separators glued to a blocked word do not
get it past, on the prompt, the negative prompt and a remix edit; words that merely contain it still pass;
a rule RE2 cannot run is refused when added. Real SQLite, the fake engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.models import Job
from tests.fakes.engine import FakeEngine
from tests.harness import Bot, make_settings, start_bot

SMALL = "frames:8 steps:1"
GLUED = ["a nude|a cat", "nude1 woman", "2nude", "nude!woman", "nude+woman", "nude@beach"]


def jobs(bot: Bot) -> int:
    with bot.app.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    running = await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=20), FakeEngine())
    assert "blocked nude" in await running.say("/animate-admin block add nude", user="boss")
    assert "blocked ass" in await running.say("/animate-admin block add ass", user="boss")
    yield running
    await running.app.stop()


async def test_glued_forms_are_refused_on_prompt_negative_prompt_and_remix(bot: Bot) -> None:
    assert "queued #1" in await bot.say(f"/animate a lighthouse {SMALL}")
    await bot.idle()
    for text in GLUED:
        assert "prompt is not allowed" in await bot.say(f"/animate {text} {SMALL}"), text
        refused = await bot.say(f'/animate a dog neg:"{text}" guidance:2 {SMALL}')
        assert "negative prompt is not allowed" in refused, text
        assert "content rules" in await bot.say(f"remix 1 {text}"), text
    assert jobs(bot) == 1


async def test_innocent_words_that_contain_a_rule_pass(bot: Bot) -> None:
    for n, text in enumerate(["a nudibranch", "denuded hills", "a class photo", "bass guitar", "an assistant"], 1):
        assert f"queued #{n}" in await bot.say(f"/animate {text} {SMALL}"), text
    await bot.idle()


async def test_a_regex_re2_cannot_run_is_refused_at_block_add(bot: Bot) -> None:
    answer = await bot.say("/animate-admin block add /(?<=x)cat/", user="boss")
    assert answer.strip().count("\n") == 0 and "look-arounds, back-references" in answer, answer
    assert "/(?<=x)cat/" not in await bot.say("/animate-admin block list", user="boss")
    assert "blocked /(a+)+$/" in await bot.say("/animate-admin block add /(a+)+$/", user="boss")
