"""A Discord bot for tests: the real app and DiscordAdapter against the local fake Discord."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App, build_app
from bot.platforms.discord import DiscordAdapter
from bot.settings import Settings
from tests.fakes.discord_server import TOKEN, FakeDiscord, Interaction, Payloads
from tests.harness import bot_env, make_settings

BOT_AUTH = f"Bot {TOKEN}"
EPHEMERAL = 64


@dataclass
class DiscordBot:
    app: App
    discord: DiscordAdapter
    fake: FakeDiscord

    @property
    def payloads(self) -> Payloads:
        return Payloads(self.fake)

    async def command(self, name: str, options: dict[str, Any] | None = None, **kw: Any) -> Interaction:
        return await self.fake.interact(self.payloads.command(name, options, **kw))

    async def acked(self, interaction: Interaction) -> dict[str, Any]:
        await self.fake.wait_for(lambda: interaction.callback is not None, timeout=5)
        assert interaction.acked_after is not None and interaction.acked_after < 3.0
        assert interaction.callback is not None
        return interaction.callback

    async def answer(self, interaction: Interaction) -> dict[str, Any]:
        """What the bot answered: the interaction's own response, or its first follow-up when it deferred."""
        callback = await self.acked(interaction)
        if callback.get("type") in (4, 9):
            return dict(callback.get("data") or {})
        pattern = rf"/webhooks/\d+/{interaction.payload['token']}.*"
        calls = await self.fake.wait_for(lambda: self.fake.find("POST", pattern) + self.fake.find("PATCH", pattern))
        return dict(calls[0].body or {})

    async def clip_posted(self, count: int = 1) -> list[dict[str, Any]]:
        def clips() -> list[dict[str, Any]]:
            found = [m for m in self.fake.messages.values() if m["attachments"]]
            return found if len(found) >= count else []

        found = await self.fake.wait_for(clips, timeout=40)
        await self.app.service.wait_idle()
        return found


def environment(fake: FakeDiscord, tmp_path: Path) -> dict[str, str]:
    """How `animatebot run` would be configured for the fake: tokens and URLs by environment."""
    return {
        **bot_env(tmp_path, "bot.db"),
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE_URL": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "ANIMATEBOT_PROGRESS_EVERY_S": "0",  # every step edits: the test sees a bar however fast the machine
    }


def settings_for(fake: FakeDiscord, tmp_path: Path, **extra: str) -> Settings:
    return make_settings(tmp_path, **{**environment(fake, tmp_path), **extra})


async def start_bot(settings: Settings, fake: FakeDiscord, engine: Any = None) -> DiscordBot:
    """Start the way ``animatebot run`` does: the app, then the adapter registered and started."""
    app = build_app(settings, engine=engine)
    await app.start()
    adapter = DiscordAdapter(app.service, settings)
    app.service.add_adapter(adapter)
    await adapter.start()
    return DiscordBot(app, adapter, fake)


async def stop_bot(bot: DiscordBot) -> None:
    await bot.discord.close()
    await bot.app.stop(grace_s=5)


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
        parts.append((embed.get("footer") or {}).get("text", ""))
    return "\n".join(p for p in parts if p)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]
