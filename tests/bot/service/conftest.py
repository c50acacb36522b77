"""Service fixtures: a tiny engine kept warm per module, settings on a temp folder, a console bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from generation.engine import create_engine
from tests.harness import Bot, make_settings, start_bot


@pytest.fixture(scope="module")
def tiny_engine() -> Iterator[Any]:
    engine = create_engine("tiny")
    yield engine
    engine.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=5)


@pytest.fixture
async def bot(settings: Settings, tiny_engine: Any) -> AsyncIterator[Bot]:
    bot = await start_bot(settings, tiny_engine)
    yield bot
    await bot.app.stop()
