"""`animatebot run` as a separate process, configured only by the environment, against the local
fake Discord (REST and gateway on 127.0.0.1): it logs in, connects, answers an /animate arriving
over the gateway with a deferral within 3 seconds, posts the GIF in a thread, and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.bot.platforms.discord.harness import environment
from tests.fakes.discord_server import CHANNEL_ID, TOKEN, FakeDiscord, Payloads
from tests.harness import REPO


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_animatebot_run_answers_an_animate_from_the_gateway(tmp_path: Path) -> None:
    fake = await FakeDiscord().start()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        **environment(fake, tmp_path),
        "ANIMATEBOT_LOG_LEVEL": "DEBUG",
    }
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        env.pop(key, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--grace",
        "5",
        cwd=tmp_path,  # no stray .env
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await fake.wait_for(lambda: fake._sockets, timeout=90)  # imports torch and diffusers first
        interaction = await fake.interact(
            Payloads(fake).command("animate", {"prompt": "a cat", "steps": 1, "frames": 8})
        )
        await fake.wait_for(lambda: interaction.callback, timeout=5)
        assert interaction.callback == {"type": 5} and interaction.acked_after is not None
        assert interaction.acked_after < 3.0

        def clip() -> list[dict[str, object]]:
            return [m for m in fake.messages.values() if m["attachments"]]

        (posted,) = await fake.wait_for(clip, timeout=60)
        parent = interaction.original_id
        assert posted["channel_id"] == str(parent)  # in the thread started from the queued reply
        assert fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/{parent}/threads")
        await fake.wait_for(lambda: "done #1" in json.dumps(fake.messages[parent]["embeds"]), timeout=10)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        await fake.close()
    log = output.decode(errors="replace")
    assert process.returncode == 0, log[-3000:]
    assert "connected to Discord as animatebot" in log
    assert TOKEN not in log  # not even at DEBUG
