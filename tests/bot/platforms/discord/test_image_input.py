"""Images into /animate on the fake Discord: the attachment option, the "Animate image" message
menu with its modal, and every way an image is refused. Real discord.py over a local fake gateway
and REST API, the attachment served by the fake's CDN on 127.0.0.1; the FakeEngine stands in for
diffusion so the tests time nothing but the bot."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import App, build_app
from bot.platforms.discord.adapter import DiscordAdapter
from storage.scope import EVERYWHERE
from tests.bot.platforms.discord.harness import settings_for
from tests.fakes.discord_server import (
    AttachmentOption,
    FakeDiscord,
    Interaction,
    Payloads,
    message_command,
    modal_submit_in_channel,
)
from tests.fakes.engine import FakeEngine

EPHEMERAL = 64


def png(size: tuple[int, int] = (320, 240)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 160, 90)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Bot:
    app: App
    adapter: DiscordAdapter
    fake: FakeDiscord
    engine: FakeEngine

    @property
    def payloads(self) -> Payloads:
        return Payloads(self.fake)

    async def animate(self, prompt: str, attachment: dict[str, Any]) -> Interaction:
        options = {"prompt": prompt, "image": AttachmentOption(attachment)}
        return await self.fake.interact(self.payloads.command("animate", options))

    async def clip_in_thread(self) -> dict[str, Any]:
        def clip() -> dict[str, Any] | None:
            return next((m for m in self.fake.messages.values() if m["attachments"]), None)

        found = await self.fake.wait_for(clip, timeout=30)
        await self.app.service.wait_idle()
        assert self.fake.channels[int(found["channel_id"])]["type"] == 11  # a public thread
        return found

    async def private_answer(self) -> str:
        def answer() -> str | None:
            for call in self.fake.find("POST", r"/webhooks/.*") + self.fake.find("POST", r"/interactions/.*"):
                body = call.body or {}
                data = body.get("data", body)
                if int(data.get("flags") or 0) & EPHEMERAL:
                    texts = [data.get("content") or ""]
                    texts += [e.get("description") or "" for e in data.get("embeds") or []]
                    return "\n".join(t for t in texts if t)
            return None

        return await self.fake.wait_for(answer, timeout=10)


async def start(fake: FakeDiscord, tmp_path: Path, **extra: str) -> Bot:
    engine = FakeEngine()
    app = build_app(settings_for(fake, tmp_path, **extra), engine=engine)
    await app.start()
    adapter = DiscordAdapter(app.service, app.settings)
    app.service.add_adapter(adapter)
    await adapter.start()
    return Bot(app, adapter, fake, engine)


@pytest.fixture
async def bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Bot]:
    running = await start(fake, tmp_path)
    yield running
    await running.adapter.close()
    await running.app.stop(grace_s=5)


async def test_animate_with_an_image_attachment_posts_a_clip_in_a_thread(bot: Bot) -> None:
    attachment = bot.fake.attachment("harbour.png", png())
    interaction = await bot.animate("boats rocking strength:0.4 motion:pan-left", attachment)
    await bot.fake.wait_for(lambda: interaction.callback is not None, timeout=5)
    assert interaction.acked_after is not None and interaction.acked_after < 3.0
    clip = await bot.clip_in_thread()
    assert "boats rocking" in str(clip["embeds"])
    assert len(bot.fake.cdn_gets) == 1
    job = bot.app.repo.job(1)
    assert job is not None and job.status == "succeeded" and Path(job.input_image or "").is_file()
    params = bot.engine.generated[0]
    assert (params.image, params.strength, params.motion_text) == (job.input_image, 0.4, "pan-left@0.75")


async def test_the_animate_image_message_menu_asks_prompt_and_motion_then_posts_a_clip(bot: Bot) -> None:
    menu = next(c for c in bot.fake.commands["global"] if c.get("type") == 3)
    assert menu["name"] == "Animate image"
    message = bot.fake.user_message("look at this", [bot.fake.attachment("cat.jpg", png(), "image/jpeg")])
    opened = await bot.fake.interact(message_command(bot.payloads, "Animate image", message))
    await bot.fake.wait_for(lambda: opened.callback is not None, timeout=5)
    modal = opened.callback
    assert modal is not None and modal["type"] == 9  # a modal, answered within 3 s
    submit = modal_submit_in_channel(bot.payloads, modal["data"], ["a cat yawning loop:pingpong", "zoom-in@0.5"])
    await bot.fake.interact(submit)
    await bot.clip_in_thread()
    params = bot.engine.generated[0]
    assert params.prompt == "a cat yawning" and params.loop == "pingpong" and params.motion_text == "zoom-in@0.5"
    assert params.image is not None and Path(params.image).is_file()


async def test_the_message_menu_on_a_message_without_an_image_says_so(bot: Bot) -> None:
    message = bot.fake.user_message("just words", [bot.fake.attachment("notes.txt", b"hello", "text/plain")])
    opened = await bot.fake.interact(message_command(bot.payloads, "Animate image", message))
    assert "has no image attached" in await bot.private_answer()
    assert opened.callback is not None and opened.callback["type"] == 4
    assert bot.app.repo.history(EVERYWHERE, limit=5) == [] and bot.fake.cdn_gets == []


@pytest.mark.parametrize(
    ("attachment", "problem", "fetched"),
    [
        (lambda f: f.attachment("notes.png", b"this is text", "image/png"), "is not an image this bot reads", True),
        (lambda f: f.attachment("huge.png", png(), size=25 * 1024 * 1024), "25.0 MB; images may be at most 20", False),
        (lambda f: f.attachment("wide.png", png((4100, 10))), "at most 4096 pixels a side", True),
        (
            lambda f: {**f.attachment("far.png", png()), "url": "https://images.example.net/far.png"},
            "is not a file uploaded to Discord",
            False,
        ),
    ],
)
async def test_each_bad_image_gets_one_private_line_and_queues_nothing(
    bot: Bot, attachment: Any, problem: str, fetched: bool
) -> None:
    await bot.animate("a lighthouse", attachment(bot.fake))
    answer = await bot.private_answer()
    assert problem in answer and answer.count("\n") == 0, answer
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    assert bool(bot.fake.cdn_gets) is fetched


async def test_a_download_that_hangs_times_out_with_one_line(fake: FakeDiscord, tmp_path: Path) -> None:
    bot = await start(fake, tmp_path, ANIMATEBOT_IMAGE_DOWNLOAD_TIMEOUT_S="0.2")
    fake.cdn_stall = asyncio.Event()  # the CDN never answers until the test is done
    try:
        await bot.animate("a lighthouse", fake.attachment("slow.png", png()))
        assert "the download of 'slow.png' timed out after 0.2 s" in await bot.private_answer()
        assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    finally:
        fake.cdn_stall.set()
        await bot.adapter.close()
        await bot.app.stop(grace_s=5)
