"""Discord fixtures: the fake Discord, an app without a running clip, its adapter, a whole bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.platforms.discord import DiscordAdapter
from tests.bot.platforms.discord.harness import DiscordBot, settings_for, start_bot, stop_bot
from tests.fakes.discord_server import FakeDiscord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    yield server
    await server.close()


@pytest.fixture
async def app(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[App]:
    # The service and database, but no worker: nothing here generates a clip.
    built = build_app(settings_for(fake, tmp_path))
    yield built
    await built.stop(grace_s=1)


@pytest.fixture
async def adapter(app: App) -> AsyncIterator[DiscordAdapter]:
    running = DiscordAdapter(app.service, app.settings)
    app.service.add_adapter(running)
    await running.start()
    yield running
    await running.close()


@pytest.fixture
async def bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[DiscordBot]:
    running = await start_bot(settings_for(fake, tmp_path), fake)
    yield running
    await stop_bot(running)
