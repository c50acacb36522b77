"""What many tests share: the repository root, the one settings builder, a free port, and a bot
on a temp database with the console adapter for use-case tests.

``Bot.say(line, user=...)`` types a line as that person and returns what the bot printed in
answer; ``Bot.idle()`` waits for every accepted job to end and be delivered.
"""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import App, build_app
from bot.chat import Actor, Invocation, Place
from bot.platforms.console import ConsoleAdapter, ConsoleResponder, handle_line
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def bot_env(tmp: Path, db_name: str = "animatebot.db") -> dict[str, str]:
    """The environment of a test bot: tiny pipeline, its database and clips under ``tmp``."""
    return {
        "ANIMATEBOT_PIPELINE": "tiny",
        "ANIMATEBOT_DATABASE_URL": f"sqlite:///{tmp / db_name}",
        "ANIMATEBOT_MEDIA_DIR": str(tmp / "clips"),
    }


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings for a test bot under ``tmp`` (the one builder every test uses); ``overrides`` by env name."""
    values: dict[str, Any] = {**bot_env(tmp), "ANIMATEBOT_OWNER_IDS": "console:boss"}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bot:
    app: App
    out: io.StringIO = field(default_factory=io.StringIO)

    def __post_init__(self) -> None:
        self.console = ConsoleAdapter(out=self.out)
        self.app.service.add_adapter(self.console)

    async def say(self, line: str, user: str = "alice", admin: bool = False) -> str:
        start = len(self.out.getvalue())
        place = Place("console", "console")
        inv = Invocation(
            Actor("console", user, user.title(), platform_admin=admin), place, ConsoleResponder(self.console, place)
        )
        await handle_line(self.app.service, inv, line)
        return self.out.getvalue()[start:]

    async def idle(self) -> None:
        await self.app.service.wait_idle()

    @property
    def printed(self) -> str:
        return self.out.getvalue()


async def start_bot(settings: Settings, engine: Any = None) -> Bot:
    app = build_app(settings, engine=engine)
    bot = Bot(app)
    await app.start()
    return bot
