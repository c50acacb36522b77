"""The "Animate this image" message shortcut on the fake Slack: a modal for prompt and motion, the
file fetched from the fake's url_private with the bot token, the clip uploaded into a thread; and
every way an image is refused. Real slack-bolt over Socket Mode to a local fake; the FakeEngine
stands in for diffusion."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import App, build_app
from bot.platforms.slack.adapter import SlackAdapter
from bot.platforms.slack.images import IMAGE_SHORTCUT
from storage.scope import EVERYWHERE
from tests.fakes.engine import FakeEngine
from tests.fakes.slack_server import FakeSlack, message_shortcut, view_submission
from tests.harness import bot_env, free_port, make_settings

USER = "UMEMBER01"
TOKEN = "xoxb-test-token"


def png(size: tuple[int, int] = (320, 240)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Bot:
    app: App
    slack: SlackAdapter
    fake: FakeSlack
    engine: FakeEngine

    async def shortcut(self, files: list[dict[str, Any]], trigger_id: str) -> dict[str, Any]:
        payload = message_shortcut(
            IMAGE_SHORTCUT,
            user=USER,
            files=files,
            trigger_id=trigger_id,
            response_url=self.fake.response_url(trigger_id),
        )
        return await self.fake.push("interactive", payload)

    async def submit(self, prompt: str, motion: str | None) -> None:
        await self.fake.wait_for(lambda: self.fake.calls_to("views.open"))
        view = json.loads(json.dumps(self.fake.calls_to("views.open")[-1].args["view"]))
        view = {**(view if isinstance(view, dict) else json.loads(view)), "id": "V0000001"}
        await self.fake.push(
            "interactive", view_submission(view, user=USER, values={"prompt": prompt, "motion": motion})
        )

    def ephemerals(self) -> list[str]:
        return [str(c.args.get("text", "")) for c in self.fake.calls_to("chat.postEphemeral")]


async def start(fake: FakeSlack, tmp_path: Path, **extra: str) -> Bot:
    values = {
        **bot_env(tmp_path, "bot.db"),
        "SLACK_MODE": "socket",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": "xapp-1-test",
        "SLACK_API_BASE_URL": fake.api_url,
        "SLACK_PORT": str(free_port()),
        **extra,
    }
    settings = make_settings(tmp_path, **values)
    engine = FakeEngine()
    app = build_app(settings, engine=engine)
    await app.start()
    slack = SlackAdapter(app.service, settings, host="127.0.0.1")
    app.service.add_adapter(slack)
    await slack.start()
    return Bot(app, slack, fake, engine)


async def stop(bot: Bot) -> None:
    await bot.slack.close()
    await bot.app.stop(grace_s=5)


@pytest.fixture
async def bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[Bot]:
    running = await start(fake, tmp_path)
    yield running
    await stop(running)


async def test_the_shortcut_opens_a_modal_and_its_submission_posts_a_clip_in_a_thread(bot: Bot) -> None:
    file = bot.fake.add_file("harbour.png", png())
    ack = await bot.shortcut([file], "t-ok")
    assert set(ack) == {"envelope_id"}
    await bot.fake.wait_for(lambda: bot.fake.calls_to("views.open"))
    view = bot.fake.calls_to("views.open")[0].args["view"]
    view = view if isinstance(view, dict) else json.loads(view)
    assert {b["block_id"] for b in view["blocks"]} == {"prompt", "motion"}

    await bot.submit("boats rocking strength:0.4 loop:pingpong", "pan-left")
    await bot.fake.wait_for(lambda: any(u.shared for u in bot.fake.uploads.values()), timeout=30)
    await bot.app.service.wait_idle()
    (upload,) = [u for u in bot.fake.uploads.values() if u.shared]
    job = bot.app.repo.job(1)
    assert job is not None and job.status == "succeeded"
    assert upload.thread_ts == job.message_id  # the clip sits in the thread under the request
    assert bot.fake.file_gets == [(file["url_private"].split(str(bot.fake.port), 1)[1], TOKEN)]
    params = bot.engine.generated[0]
    assert (params.prompt, params.strength, params.loop, params.motion_text) == (
        "boats rocking",
        0.4,
        "pingpong",
        "pan-left@0.75",
    )
    assert params.image == job.input_image and Path(params.image or "").is_file()


async def test_a_message_without_an_image_gets_one_private_line(bot: Bot) -> None:
    await bot.shortcut([bot.fake.add_file("notes.txt", b"hello", "text/plain")], "t-none")
    await bot.fake.wait_for(lambda: bot.fake.responses_for("t-none"))
    (answer,) = bot.fake.responses_for("t-none")
    assert answer["response_type"] == "ephemeral" and "has no image file" in answer["text"]
    assert not bot.fake.calls_to("views.open") and bot.fake.file_gets == []


@pytest.mark.parametrize(
    ("file", "problem", "fetched"),
    [
        (lambda f: f.add_file("notes.png", b"plain text", "image/png"), "is not an image this bot reads", True),
        (lambda f: f.add_file("huge.png", png(), size=21 * 1024 * 1024), "21.0 MB; images may be at most 20", False),
        (lambda f: f.add_file("cut.png", png()[:120], "image/png"), "could not be read", True),
        (
            lambda f: {**f.add_file("far.png", png()), "url_private": "https://images.example.net/far.png"},
            "is not a file uploaded to Slack",
            False,
        ),
    ],
)
async def test_each_bad_image_gets_one_private_line_and_queues_nothing(
    bot: Bot, file: Any, problem: str, fetched: bool
) -> None:
    await bot.shortcut([file(bot.fake)], "t-bad")
    await bot.submit("a lighthouse", None)
    await bot.fake.wait_for(lambda: bot.ephemerals())
    (line,) = bot.ephemerals()
    assert problem in line and "\n" not in line.strip(), line
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    assert bool(bot.fake.file_gets) is fetched


async def test_an_animated_image_is_animated_from_its_first_frame_and_the_user_is_told(bot: Bot) -> None:
    out = io.BytesIO()
    frames = [Image.new("RGB", (64, 64), (c, 0, 0)) for c in (200, 20)]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    await bot.shortcut([bot.fake.add_file("moving.gif", out.getvalue(), "image/gif")], "t-gif")
    await bot.submit("a flame", None)
    await bot.fake.wait_for(lambda: bot.fake.calls_to("chat.postMessage"))
    queued = str(bot.fake.calls_to("chat.postMessage")[0].args.get("text"))
    assert "queued #1" in queued and "'moving.gif' is animated; its first frame is used" in queued
    await bot.app.service.wait_idle()


async def test_a_download_that_hangs_times_out(fake: FakeSlack, tmp_path: Path) -> None:
    bot = await start(fake, tmp_path, ANIMATEBOT_IMAGE_DOWNLOAD_TIMEOUT_S="0.2")
    fake.file_stall = asyncio.Event()
    try:
        await bot.shortcut([fake.add_file("slow.png", png())], "t-slow")
        await bot.submit("a lighthouse", None)
        await fake.wait_for(lambda: bot.ephemerals())
        assert "the download of 'slow.png' timed out after 0.2 s" in bot.ephemerals()[0]
        assert bot.app.repo.history(EVERYWHERE, limit=5) == []
    finally:
        fake.file_stall.set()
        await stop(bot)


async def test_the_file_host_refuses_a_download_without_the_bot_token(fake: FakeSlack) -> None:
    import aiohttp

    file = fake.add_file("harbour.png", png())
    async with aiohttp.ClientSession() as session, session.get(file["url_private"], allow_redirects=False) as resp:
        assert resp.status == 302  # the sign-in page, as Slack does


def test_the_manifest_declares_the_shortcut_and_files_read() -> None:
    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[4] / "slack-manifest.yml").read_text())
    (shortcut,) = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"], shortcut["name"]) == (
        "message",
        IMAGE_SHORTCUT,
        "Animate this image",
    )
    assert "files:read" in manifest["oauth_config"]["scopes"]["bot"]
