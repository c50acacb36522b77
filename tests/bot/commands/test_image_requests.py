"""/animate with an image, a long clip, a loop and scenes, through the console and the service.

The FakeEngine records the params each job reached the engine with, so what the grammar, the
service and the queue did with the image is checked end to end without paying for diffusion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.chat import Actor, ImageFile, Invocation, Place
from bot.platforms.console import ConsoleResponder
from storage.scope import EVERYWHERE
from tests.fakes.engine import FakeEngine
from tests.harness import Bot, make_settings, start_bot


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (800, 600), (10, 120, 200)).save(path)
    return path


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=10), FakeEngine())
    yield bot
    await bot.app.stop()


def engine_of(bot: Bot) -> FakeEngine:
    engine = bot.app.service.worker.engine
    assert isinstance(engine, FakeEngine)
    return engine


async def test_an_image_is_stored_with_the_job_and_reroll_and_remix_keep_it(bot: Bot, photo: Path) -> None:
    said = await bot.say(f"/animate a lighthouse image:{photo} strength:0.5 motion:zoom-in frames:48 loop:pingpong")
    assert "queued #1" in said
    await bot.idle()
    job = bot.app.repo.job(1)
    assert job is not None and job.status == "succeeded"
    stored = Path(job.input_image or "")
    assert stored.parent == Path(bot.app.settings.media_dir) / "inputs" and stored.is_file()
    with Image.open(stored) as image:
        assert image.size == (800, 600) and image.mode == "RGB"
    first = engine_of(bot).generated[-1]
    assert (first.image, first.strength, first.frames, first.loop) == (str(stored), 0.5, 48, "pingpong")

    await bot.say("reroll 1")
    await bot.say("remix 1 a lighthouse at dusk | a lighthouse at night")
    await bot.idle()
    reroll, remix = engine_of(bot).generated[-2:]
    assert reroll.image == remix.image == str(stored)
    assert remix.strength == 0.5 and remix.scenes == ("a lighthouse at dusk", "a lighthouse at night")
    assert "Scenes" in bot.printed and "ping-pong" in bot.printed


async def test_an_animated_image_uses_its_first_frame_and_says_so(bot: Bot, tmp_path: Path) -> None:
    path = tmp_path / "moving.gif"
    frames = [Image.new("RGB", (64, 64), (c, 0, 0)) for c in (200, 20, 90)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    said = await bot.say(f"/animate a fire image:{path}")
    assert "queued #1" in said and "'moving.gif' is animated; its first frame is used" in said
    await bot.idle()
    with Image.open(bot.app.repo.job(1).input_image) as image:  # type: ignore[union-attr,arg-type]
        assert image.getpixel((5, 5)) == (200, 0, 0)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("hello"), "is not an image this bot reads"),
        (lambda p: None, "there is no file"),
        (lambda p: Image.new("RGB", (4097, 8)).save(p, format="PNG"), "at most 4096 pixels a side"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (20 * 1024 * 1024)), "at most 20 MB"),
        (lambda p: p.write_bytes(_png()[:60]), "could not be read"),
    ],
)
async def test_each_bad_image_gets_one_line_and_queues_nothing(bot: Bot, tmp_path: Path, make, problem) -> None:
    path = tmp_path / "bad.png"
    make(path)
    said = await bot.say(f"/animate a lighthouse image:{path}")
    assert problem in said and said.strip().count("\n") == 0, said
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    assert not (Path(bot.app.settings.media_dir) / "inputs").exists() or not any(
        (Path(bot.app.settings.media_dir) / "inputs").iterdir()
    )


def _png() -> bytes:
    import io

    out = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


async def chat_invocation(bot: Bot, platform: str) -> Invocation:
    place = Place(platform, "C1")
    return Invocation(Actor(platform, "U1", "Uma"), place, ConsoleResponder(bot.console, place))


async def test_chat_platforms_never_read_a_typed_path_but_take_handed_over_files(bot: Bot, photo: Path) -> None:
    inv = await chat_invocation(bot, "slack")
    start = len(bot.printed)
    await bot.app.service.handle_command(inv, "animate", f"a lighthouse image:{photo}")
    assert "image: takes a file path only in the console" in bot.printed[start:]
    failed = ImageFile("photo.png", error="the download of 'photo.png' timed out after 20 s")
    await bot.app.service.handle_command(inv, "animate", "a lighthouse", {"image": failed})
    assert "timed out after 20 s" in bot.printed[start:]
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    await bot.app.service.handle_command(inv, "animate", "a lighthouse", {"image": ImageFile("p.png", _png())})
    assert "queued #1" in bot.printed[start:]


async def test_a_queued_image_job_survives_a_restart(tmp_path: Path, photo: Path) -> None:
    settings = make_settings(tmp_path)
    first = await start_bot(settings, FakeEngine())
    first.app.queue.set_paused(True)
    await first.say(f"/animate a lighthouse image:{photo}")
    await first.app.stop()
    second = await start_bot(settings, FakeEngine())
    try:
        second.app.queue.set_paused(False)
        await second.idle()
        job = second.app.repo.job(1)
        assert job is not None and job.status == "succeeded"
        assert engine_of(second).generated[0].image == job.input_image
    finally:
        await second.app.stop()
