"""Retention and disk space, as people meet them: clips older than ANIMATEBOT_KEEP_DAYS (or `animatebot db prune
--older-than`) leave the disk, history and show say "expired", a reroll makes one again from its recipe, a reroll
of an image clip whose still expired says so in one line, and new jobs are refused in one line while the media
disk is nearly full (its free space read through a seam the test controls)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from bot.chat import Place
from bot.cli import main
from generation.media.space import MB, DiskSpace
from storage.models import utcnow
from tests.fakes.engine import FakeEngine
from tests.harness import Bot, make_settings, start_bot

SMALL = "steps:1 frames:8"


async def two_old_clips(tmp_path: Path) -> tuple[Path, Path]:
    """A text clip (#1) and an image clip (#2), made and then aged 40 days; their files' paths."""
    Image.new("RGB", (64, 64), "orange").save(tmp_path / "photo.png")
    bot = await start_bot(make_settings(tmp_path), FakeEngine())
    try:
        await bot.say(f"/animate a lighthouse {SMALL}")
        await bot.say(f"/animate a boat image:{tmp_path / 'photo.png'} {SMALL}")
        await bot.idle()
        jobs = [bot.app.repo.job(job_id) for job_id in (1, 2)]
        for job in jobs:
            assert job is not None and job.status == "succeeded"
            bot.app.repo.update_job(job.id, created_at=utcnow() - timedelta(days=40))
    finally:
        await bot.app.stop()
    clip, still = Path(jobs[0].output_path or ""), Path(jobs[1].input_image or "")  # type: ignore[union-attr]
    assert clip.exists() and still.exists() and still.is_relative_to(tmp_path / "clips")
    return clip, still


async def test_keep_days_expires_old_clips_and_their_recipes_still_work(tmp_path: Path) -> None:
    clip, still = await two_old_clips(tmp_path)
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_KEEP_DAYS=30), FakeEngine())
    try:
        await bot.app.pruned.wait()  # the first prune runs as the bot starts, then once a day
        assert not clip.exists() and not still.exists()

        assert "expired" in await bot.say("/animate-history")
        shown = await bot.say("/animate-show 1")
        assert "expired" in shown and "a reroll makes it again" in shown and "clip:" not in shown
        expired = bot.app.repo.job(1)
        assert expired is not None  # posting it again (an admin's release, a delivery cut short) says it expired
        await bot.app.service.delivery.post_clip(bot.console, Place("console", "console"), expired)
        assert "#1 has expired: its clip was removed" in bot.printed

        assert "queued #3" in await bot.say("reroll 1")  # the row kept the recipe
        await bot.idle()  # its progress lines are printed before the next answer
        refused = await bot.say("reroll 2")
        assert "the image this clip was animated from has expired" in refused and "image:" in refused
        assert len(refused.strip().splitlines()) == 1
        rerolled = bot.app.repo.job(3)
        assert rerolled is not None and rerolled.status == "succeeded" and rerolled.prompt == "a lighthouse"
        assert bot.app.repo.job(4) is None  # the refused reroll wrote nothing
    finally:
        await bot.app.stop()


async def test_db_prune_older_than_removes_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, still = await two_old_clips(tmp_path)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ANIMATEBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'animatebot.db'}")
    monkeypatch.setenv("ANIMATEBOT_MEDIA_DIR", str(tmp_path / "clips"))
    assert main(["db", "prune", "--older-than", "50d"]) == 0
    assert clip.exists() and "0 clips expired" in capsys.readouterr().out
    assert main(["db", "prune", "--older-than", "30d"]) == 0
    assert "2 clips expired, 3 files" in capsys.readouterr().out
    assert not clip.exists() and not still.exists()
    assert main(["history", "--json"]) == 0
    assert '"expired": true' in capsys.readouterr().out
    assert main(["db", "prune", "--older-than", "a month"]) == 2
    assert "not an age; give days like 30d" in capsys.readouterr().err


async def test_new_jobs_are_refused_while_the_media_disk_is_nearly_full(bot_on_fake: Bot, tmp_path: Path) -> None:
    free = {"mb": 100}
    space = DiskSpace(tmp_path / "clips", 500, usage=lambda _path: SimpleNamespace(free=free["mb"] * MB))
    bot_on_fake.app.queue.space = space.refusal
    refused = await bot_on_fake.say(f"/animate a lighthouse {SMALL}")
    assert "disk is almost full (100 MB free, 500 MB needed)" in refused and len(refused.strip().splitlines()) == 1
    assert bot_on_fake.app.repo.job(1) is None
    free["mb"] = 600
    assert "queued #1" in await bot_on_fake.say(f"/animate a lighthouse {SMALL}")
    await bot_on_fake.idle()


@pytest.fixture
async def bot_on_fake(tmp_path: Path):  # type: ignore[no-untyped-def]
    bot = await start_bot(make_settings(tmp_path), FakeEngine())
    yield bot
    await bot.app.stop()
