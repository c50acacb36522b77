"""A Slack bot for tests: the real app and SlackAdapter (HTTP or Socket Mode) against the local fake Slack."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App, build_app
from bot.platforms.slack.adapter import EVENTS_PATH, SlackAdapter
from bot.settings import Settings
from storage.scope import EVERYWHERE
from tests.fakes.slack_server import FakeSlack, block_action, form_body, interactive_body, signed_headers, slash_command
from tests.harness import bot_env, free_port, make_settings

SECRET = "test-signing-secret"
CHANNEL = "C0000001"
OWNER = "U0000001"
FAST = "steps:1 frames:8"


@dataclass
class SlackBot:
    app: App
    slack: SlackAdapter
    fake: FakeSlack
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.slack.port}{EVENTS_PATH}"

    async def send(self, body: str, headers: dict[str, str] | None = None) -> tuple[int, str, float]:
        """POST a signed request; returns status, body and seconds taken."""
        started = time.monotonic()
        async with self.http.post(self.url, data=body, headers=headers or signed_headers(SECRET, body)) as resp:
            return resp.status, await resp.text(), time.monotonic() - started

    async def command(self, command: str, text: str, **fields: Any) -> tuple[int, str, float]:
        fields.setdefault("response_url", self.fake.response_url(fields.get("trigger_id", "trigger-1")))
        return await self.send(form_body(slash_command(command, text, **fields)))

    async def click(self, value: str, user: str, trigger_id: str, *, on_parent: bool = False) -> tuple[int, str, float]:
        """Click ``value`` on its job's clip message (``on_parent``: on the request's parent message)."""
        job = self.app.repo.job(int(value.rsplit(":", 1)[1]))
        assert job is not None
        message_ts, thread_ts = (job.message_id, None) if on_parent else (job.clip_message_id, job.thread_id)
        assert message_ts
        payload = block_action(
            value,
            user=user,
            channel=job.channel_id,
            message_ts=message_ts.split("/")[0],  # the clip's message id names its file after a /
            thread_ts=thread_ts,
            trigger_id=trigger_id,
            response_url=self.fake.response_url(trigger_id),
        )
        return await self.send(interactive_body(payload))

    async def open_view(self, value: str, user: str, trigger_id: str) -> dict[str, Any]:
        """Click ``value`` on its job's parent message; the view the bot opened for the form (views.open's args)."""
        status, _, took = await self.click(value, user, trigger_id, on_parent=True)
        assert status == 200 and took < 3.0
        await self.fake.wait_for(lambda: self.fake.calls_to("views.open"))
        return dict(self.fake.calls_to("views.open")[-1].args)

    def jobs(self) -> int:
        return self.app.repo.count_status("queued", "running", "succeeded", "failed", "cancelled")


def environment(fake: FakeSlack, tmp_path: Path) -> dict[str, str]:
    """How `animatebot run` would be configured for the fake: HTTP mode, tokens and URLs by environment."""
    return {
        **bot_env(tmp_path, "bot.db"),
        "SLACK_MODE": "http",
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_BASE_URL": fake.api_url,
        "SLACK_PORT": str(free_port()),
    }


def settings_for(fake: FakeSlack, tmp_path: Path, **extra: str) -> Settings:
    return make_settings(tmp_path, **{**environment(fake, tmp_path), **extra})


async def start_bot(settings: Settings, fake: FakeSlack) -> SlackBot:
    """Start the way ``animatebot run`` does: the app, then the adapter registered and started."""
    app = build_app(settings)
    await app.start()
    slack = SlackAdapter(app.service, settings, host="127.0.0.1")
    app.service.add_adapter(slack)
    await slack.start()
    return SlackBot(app, slack, fake, aiohttp.ClientSession())


async def stop_bot(bot: SlackBot) -> None:
    await bot.http.close()
    await bot.slack.close()
    await bot.app.stop(grace_s=5)


async def animate_and_wait(bot: SlackBot, text: str, trigger_id: str = "trigger-1", user: str = OWNER) -> int:
    status, body, _ = await bot.command("/animate", text, trigger_id=trigger_id, user=user)
    assert (status, body) == (200, "")
    await bot.fake.wait_for(lambda: any(u.shared for u in bot.fake.uploads.values()), timeout=40)
    await bot.app.service.wait_idle()
    return max(j.id for j in bot.app.repo.history(EVERYWHERE, limit=50))


def adapter_settings(fake: FakeSlack, tmp_path: Path, **extra: str) -> Settings:
    """Settings for a SlackAdapter alone (no bot around it): HTTP mode against the fake."""
    values = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_MODE": "http",
        "SLACK_API_BASE_URL": fake.api_url,
    }
    return make_settings(tmp_path, **{**values, **extra})
