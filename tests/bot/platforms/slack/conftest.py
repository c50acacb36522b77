"""Slack fixtures: the fake Slack, an adapter on its own, a whole bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.platforms.slack.adapter import SlackAdapter
from tests.bot.platforms.slack.harness import SlackBot, adapter_settings, settings_for, start_bot, stop_bot
from tests.fakes.slack_server import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def adapter(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[SlackAdapter]:
    slack = SlackAdapter(None, adapter_settings(fake, tmp_path), host="127.0.0.1", port=0)
    await slack.start()
    yield slack
    await slack.close()


@pytest.fixture
async def bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[SlackBot]:
    running = await start_bot(settings_for(fake, tmp_path), fake)
    yield running
    await stop_bot(running)
