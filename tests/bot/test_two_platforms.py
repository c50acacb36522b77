"""Discord and Slack in one process: clips that ended while a platform was not connected yet (the bot starts its
platforms one after the other, and recovers jobs before either) are posted once that platform is up, each once."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import EXIT_OK, _run
from generation.params import GenerationParams
from storage.db import Database
from storage.repository import Repository
from tests.bot.platforms.discord.harness import environment as discord_environment
from tests.bot.platforms.slack.harness import CHANNEL as SLACK_CHANNEL
from tests.bot.platforms.slack.harness import environment as slack_environment
from tests.fakes.discord_server import CHANNEL_ID, FakeDiscord
from tests.fakes.engine import FakeEngine
from tests.fakes.slack_server import FakeSlack
from tests.harness import make_settings


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeSlack]]:
    discord, slack = await FakeDiscord().start(), FakeSlack()
    await slack.start()
    yield discord, slack
    await slack.close()
    await discord.close()


def finished_unposted(repo: Repository, media: Path, platform: str, channel: str) -> int:
    """A clip that ended while the bot had no connection to ``platform`` (made, not yet posted)."""
    media.mkdir(parents=True, exist_ok=True)
    path = media / f"{platform}.gif"
    Image.new("RGB", (32, 32), "teal").save(path)
    params = GenerationParams(prompt=f"a {platform} cat", steps=1, frames=8)
    job = repo.insert_job(
        {
            "platform": platform,
            "channel_id": channel,
            "user_key": f"{platform}:U1",
            "prompt": params.prompt,
            "params": params.to_dict(),
            "steps": 1,
            "frames": 8,
            "max_bytes": 10_000_000,
            "status": "succeeded",
            "output_path": str(path),
            "output_format": "gif",
            "output_bytes": path.stat().st_size,
        }
    )
    return job.id


async def test_clips_made_before_their_platform_was_up_are_posted_once_it_is(
    fakes: tuple[FakeDiscord, FakeSlack], tmp_path: Path
) -> None:
    discord, slack = fakes
    settings = make_settings(
        tmp_path, **{**slack_environment(slack, tmp_path), **discord_environment(discord, tmp_path)}
    )
    repo = Repository(Database(settings.database_url))
    ids = {
        platform: finished_unposted(repo, settings.media_dir, platform, channel)
        for platform, channel in (("discord", str(CHANNEL_ID)), ("slack", SLACK_CHANNEL))
    }
    repo.db.close()

    args = argparse.Namespace(engine=FakeEngine(), user="you", admin=False, grace=5.0)
    running = asyncio.create_task(_run(settings, args))
    try:
        await discord.wait_for(lambda: [m for m in discord.messages.values() if m["attachments"]] or running.done())
        await slack.wait_for(lambda: any(u.shared for u in slack.uploads.values()) or running.done())
        assert not running.done()
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # `_run` stops on it, as under systemd
        code = await asyncio.wait_for(running, timeout=30)
    assert code == EXIT_OK

    (posted,) = [m for m in discord.messages.values() if m["attachments"]]
    assert posted["channel_id"] == str(CHANNEL_ID)
    assert len([u for u in slack.uploads.values() if u.shared]) == 1
    repo = Repository(Database(settings.database_url))
    try:
        assert {p: (repo.job(i) or pytest.fail()).delivery for p, i in ids.items()} == {
            "discord": "clip",
            "slack": "clip",
        }
    finally:
        repo.db.close()
