"""The Discord gateway giving up (a fatal close code: discord.py will not reconnect) ends `animatebot run` with
exit code 1 and one line saying why, so that systemd or the container starts it again; a stop signal still
ends it with 0."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

import pytest

from bot.cli import EXIT_FAILURE, EXIT_OK, _run
from tests.bot.platforms.discord.harness import settings_for
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.engine import FakeEngine


def run_args() -> argparse.Namespace:
    return argparse.Namespace(engine=FakeEngine(), user="you", admin=False, grace=5.0)


async def test_a_gateway_that_gives_up_ends_the_run_with_exit_code_1(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = asyncio.create_task(_run(settings_for(fake, tmp_path), run_args()))
    await fake.wait_for(lambda: fake._sockets or running.done(), timeout=30)
    assert not running.done()
    await fake.end_sessions(4004, "Authentication failed.")
    code = await asyncio.wait_for(running, timeout=30)
    assert code == EXIT_FAILURE
    (line,) = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert "4004" in line.getMessage() and "exit code 1" in line.getMessage() and line.exc_info is None
    assert len(fake.identifies) == 1  # a revoked token is not tried again


async def test_a_stop_signal_still_ends_the_run_with_exit_code_0(fake: FakeDiscord, tmp_path: Path) -> None:
    running = asyncio.create_task(_run(settings_for(fake, tmp_path), run_args()))
    await fake.wait_for(lambda: fake._sockets or running.done(), timeout=30)
    os.kill(os.getpid(), signal.SIGTERM)  # `_run` handles it on its loop, as under systemd
    assert await asyncio.wait_for(running, timeout=30) == EXIT_OK
