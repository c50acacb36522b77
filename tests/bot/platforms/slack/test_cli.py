"""`animatebot run` as a separate process in Slack http mode, configured only by the environment,
against the local fake Slack Web API: a signed /animate POST is answered 200 within 3 seconds and
the GIF reaches the parent message's thread through the three upload calls."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.bot.platforms.slack.harness import SECRET, environment
from tests.fakes.slack_server import FakeSlack, form_body, signed_headers, slash_command
from tests.harness import REPO


async def wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.3)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_animatebot_run_in_http_mode_posts_the_gif_into_the_thread(tmp_path: Path) -> None:
    fake = FakeSlack()
    await fake.start()
    env = {**os.environ, "PYTHONPATH": str(REPO), **environment(fake, tmp_path), "SLACK_HOST": "127.0.0.1"}
    port = int(env["SLACK_PORT"])
    for key in ("DISCORD_TOKEN", "SLACK_APP_TOKEN"):
        env.pop(key, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--grace", "5",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_listening(port, 120)  # imports torch and diffusers first
        body = form_body(slash_command("/animate", "a smiling girl motion:zoom-in steps:1 frames:8"))
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            async with http.post(
                f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_headers(SECRET, body)
            ) as response:
                assert response.status == 200
                await response.read()
            assert time.monotonic() - started < 3.0

        await fake.wait_for(lambda: any(u.shared for u in fake.uploads.values()), timeout=90)
        parents = [c for c in fake.calls if c.method == "chat.postMessage" and "queued #1" in str(c.args)]
        assert parents, fake.methods()
        with sqlite3.connect(tmp_path / "bot.db") as db:
            parent_ts, thread_ts = db.execute("SELECT message_id, thread_id FROM jobs WHERE id = 1").fetchone()
        upload = next(u for u in fake.uploads.values() if u.shared)
        assert upload.thread_ts == parent_ts == thread_ts
        assert (upload.channel, parent_ts) in fake.messages  # the parent is a message the bot posted there
        methods = fake.methods()
        first = methods.index("files.getUploadURLExternal")
        assert methods[first : first + 3] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        await fake.close()
    assert process.returncode == 0, output.decode()[-3000:]
