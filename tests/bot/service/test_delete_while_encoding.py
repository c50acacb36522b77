"""A delete or a cancel that comes after the last denoising step, while the clip is decoded and encoded, ends
the job cancelled: no clip is posted and none is left on disk. The fake engine holds the job at its decode
gate until the test has deleted or cancelled it, so nothing depends on speed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes.engine import FakeEngine
from tests.harness import make_settings, start_bot


@pytest.mark.parametrize("command", ["delete 1", "/animate-cancel 1"])
async def test_a_delete_or_cancel_while_encoding_ends_the_job_cancelled(tmp_path: Path, command: str) -> None:
    engine = FakeEngine(decode_gate=True)
    bot = await start_bot(make_settings(tmp_path), engine)
    try:
        assert "#1" in await bot.say("/animate a red fox steps:2")
        assert await asyncio.to_thread(engine.wait_for_decode, 30)  # every step done, the clip not yet made
        answer = await bot.say(command)
        assert "deleted #1" in answer or "stops after the current step" in answer
        engine.release_decode()
        await bot.idle()
        job = await bot.app.db.offload(bot.app.repo.job, 1)
        assert job is not None and job.status == "cancelled" and job.output_path is None
        assert job.deleted is (command == "delete 1")
        assert not [p for p in (tmp_path / "clips").glob("000001-*") if p.is_file()]
        assert ".gif" not in bot.printed  # nothing was posted
    finally:
        engine.open_gates()
        await bot.app.stop()
