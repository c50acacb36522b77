"""A live board for the browser tests and the screenshot script: a console bot and the board's HTTP
server on a free port, on an event loop of their own in a thread (Selenium's calls block), and a headless
Debian Chromium driven by Selenium.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot.platforms.web import WebOptions, start_web
from tests.harness import Bot, free_port, make_settings, start_bot

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


class LiveBoard:
    """``call`` runs a coroutine on the board's loop and returns its result; ``say`` types a console line."""

    def __init__(self, tmp: Path, engine: Any = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = make_settings(
            tmp, ANIMATEBOT_WEB_PORT=str(self.port), ANIMATEBOT_WEB_URL=self.url, ANIMATEBOT_SAFETY="off"
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-board", daemon=True)
        self.thread.start()
        self.bot: Bot = self.call(start_bot(settings, engine))
        self.runner = self.call(start_web(self.bot.app.service.board, WebOptions("127.0.0.1", self.port)))

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def say(self, line: str, user: str = "alice", admin: bool = False) -> str:
        return self.call(self.bot.say(line, user=user, admin=admin))

    def idle(self) -> None:
        self.call(self.bot.idle())

    def close(self) -> None:
        self.call(self.runner.cleanup())
        self.call(self.bot.app.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def chromium(profile: Path, width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium with a fresh profile, nothing of its own on the network, no sandbox (CI containers)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
