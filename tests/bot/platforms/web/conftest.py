"""Board fixtures: a console bot on a temp database with the review board on, and aiohttp's test client
on the board's application; ``sign_in`` takes a link from the console the way a person would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.platforms.web import build_web_app
from bot.settings import Settings
from generation.engine import create_engine
from tests.harness import Bot, make_settings, start_bot

LINK_RE = re.compile(r"https?://\S+/signin\?t=[\w.\-]+")
SMALL = "frames:8 aspect:1:1"


@pytest.fixture(scope="module")
def tiny_engine() -> Iterator[Any]:
    engine = create_engine("tiny")
    yield engine
    engine.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, ANIMATEBOT_WEB_PORT="8080", ANIMATEBOT_MAX_ACTIVE_PER_USER=5, ANIMATEBOT_SAFETY="off"
    )


@pytest.fixture
async def bot(settings: Settings, tiny_engine: Any) -> AsyncIterator[Bot]:
    bot = await start_bot(settings, tiny_engine)
    yield bot
    await bot.app.stop()


@pytest.fixture
async def client(bot: Bot) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(build_web_app(bot.app.service.board)))
    await client.start_server()
    yield client
    await client.close()


def link_in(text: str) -> str:
    found = LINK_RE.search(text)
    assert found, text
    return found.group(0)


def token_of(link: str) -> str:
    return link.split("?t=", 1)[1]


async def sign_in(bot: Bot, client: TestClient[Any, Any], user: str = "alice", **say: Any) -> str:
    """Sign ``user`` in from a console link; returns the page's CSRF token."""
    link = link_in(await bot.say("/animate-board", user=user, **say))
    response = await client.get(f"/signin?t={token_of(link)}", allow_redirects=False)
    assert response.status == 303, await response.text()
    page = await (await client.get("/")).text()
    return csrf_of(page)


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="csrf" content="([^"]+)">', page)
    assert found, page[:500]
    return found.group(1)
