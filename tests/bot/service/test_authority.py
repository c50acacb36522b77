"""Owners and server admins, action by action, through the service with a fake chat: what an owner's
``/animate-admin`` does for every server, what a server admin's does for theirs alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.chat import Actor, Invocation, Message, MessageRef, Place
from bot.platforms.console import handle_line
from generation.jobs.queue import JobQueue
from storage.models import GLOBAL, JobStatus, Tenant
from tests.fakes.chat import FakeChat
from tests.fakes.engine import FakeEngine
from tests.harness import make_settings

A, B = Tenant("discord", "GA"), Tenant("discord", "GB")
OWNER = "discord:1"


@dataclass
class Said:
    chat: FakeChat
    place: Place
    lines: list[str] = field(default_factory=list)

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        self.lines.append(message.text)
        return await self.chat.post(self.place, message)


@dataclass
class Chat:
    app: App
    chat: FakeChat

    async def say(
        self, line: str, user: str = "9", *, server: Tenant = A, admin: bool = False, dm: bool = False
    ) -> str:
        place = Place("discord", f"{server.workspace_id}-general", "" if dm else server.workspace_id, is_dm=dm)
        said = Said(self.chat, place)
        await handle_line(self.app.service, Invocation(Actor("discord", user, f"u{user}", admin), place, said), line)
        return "\n".join(said.lines)


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    settings = make_settings(
        tmp_path, DISCORD_OWNER_USER_IDS="1", ANIMATEBOT_MAX_ACTIVE_PER_USER=5, ANIMATEBOT_DIRECT_MESSAGES="on"
    )
    app = build_app(settings, engine=FakeEngine())
    fake = FakeChat(platform="discord")
    app.service.add_adapter(fake)
    await app.start()
    yield Chat(app, fake)
    await app.stop(grace_s=5)


async def test_members_and_direct_messages_have_no_admin(chat: Chat) -> None:
    assert "only admins" in await chat.say("/animate-admin pause")
    assert "only admins" in await chat.say("/animate-admin pause", admin=True, dm=True)  # a DM has no server admin
    assert "paused" in await chat.say("/animate-admin pause", OWNER[8:], dm=True)  # an owner is one everywhere
    refused = [e for e in chat.app.repo.audit_log() if not e.allowed]
    assert [(e.platform, e.workspace_id) for e in refused] == [("discord", ""), ("discord", "GA")]


async def test_pause_owner_stops_everything_a_server_admin_only_their_server(chat: Chat) -> None:
    app = chat.app
    assert "this server's jobs are paused" in await chat.say("/animate-admin pause", admin=True)
    assert not app.queue.paused and app.queue.server_paused(A)
    assert "queued #1" in await chat.say("/animate a cat steps:1 frames:8")
    assert "queued #2" in await chat.say("/animate a dog steps:1 frames:8", server=B)
    await app.service.wait_idle()
    assert app.repo.job(1).status == JobStatus.QUEUED and app.repo.job(2).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert [j.id for j in app.queue.order()] == [1]  # still in line, held
    # A restart keeps the server's pause and its waiting job.
    again = JobQueue(app.repo)
    assert again.server_paused(A) and [j.id for j in again.order()] == [1] and not again.has_waiting()
    assert "run again" in await chat.say("/animate-admin resume", admin=True)
    await app.service.wait_idle()
    assert app.repo.job(1).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]

    assert "the queue is paused" in await chat.say("/animate-admin pause", "1", server=B)
    assert app.queue.paused and not app.queue.server_paused(B)
    await chat.say("/animate-admin resume", "1")


async def test_model_owner_names_any_a_server_admin_the_catalogue(chat: Chat, tmp_path: Path) -> None:
    app = chat.app
    for name in (str(tmp_path), "./nowhere", "someone/some-model"):
        answer = await chat.say(f"/animate-admin model {name}", admin=True)
        assert (
            answer
            == f"unknown model {name!r}; a server's model is one of: epicrealism, dreamshaper, "
            + answer.split("dreamshaper, ", 1)[1]
        )
    assert app.service.access.server_model(A) is None and app.service.active_model == "epicrealism"
    assert "this server's base model is now dreamshaper" in await chat.say("/animate-admin model dream", admin=True)
    assert "dreamshaper" in (await chat.say("/animate-admin models", admin=True)).split("▶")[1]
    assert "base model switched to someone/some-model" in await chat.say("/animate-admin model someone/some-model", "1")
    await chat.say("/animate a cat steps:1 frames:8")
    await chat.say("/animate a cat steps:1 frames:8", server=B)
    await app.service.wait_idle()
    assert [app.repo.job(i).model_used for i in (1, 2)] == ["dreamshaper", "someone/some-model"]  # type: ignore[union-attr]
    assert "only the bot's owners may use models outside" in await chat.say(
        "/animate a cat model:someone/x", admin=True
    )


async def test_limits_a_server_admin_sets_within_the_owners_caps(chat: Chat) -> None:
    app = chat.app
    assert "per_user can be at most 5 here" in await chat.say("/animate-admin limits per_user:6", admin=True)
    assert "per_user:1" in await chat.say("/animate-admin limits per_user:1", admin=True)
    assert app.queue.limits.max_active_per_user == 5
    app.queue.set_paused(True)  # jobs stay queued: the per-person limit counts them
    assert "queued #1" in await chat.say("/animate a cat")
    assert "already have 1 jobs" in await chat.say("/animate a cat")
    assert "queued #2" in await chat.say("/animate a cat", server=B)  # another server: its own limits
    assert "queued #3" in await chat.say("/animate a cat", "7", admin=True)  # its admins are exempt
    # The owners lower the cap below the server's choice: the cap wins.
    assert "per_user:1" in await chat.say("/animate-admin limits per_user:1", "1")
    assert "(the limit is 1)" in await chat.say("/animate a dog", server=B)
    app.queue.set_paused(False)
    await app.service.wait_idle()


async def test_bans_and_block_rules_of_owners_hold_everywhere_of_server_admins_there(chat: Chat) -> None:
    app = chat.app
    app.queue.set_paused(True)
    assert "can no longer make clips here" in await chat.say("/animate-admin ban <@5>", admin=True)
    assert "banned from making clips here" in await chat.say("/animate a cat", "5")
    assert "queued" in await chat.say("/animate a cat", "5", server=B)
    assert "can no longer make clips anywhere" in await chat.say("/animate-admin ban <@6>", "1")
    assert "banned from making clips anywhere" in await chat.say("/animate a cat", "6", server=B)
    assert "was not banned" in await chat.say("/animate-admin unban 6", admin=True)  # not theirs to lift
    assert "can make clips again" in await chat.say("/animate-admin unban 6", "1")

    assert "on this server" in await chat.say("/animate-admin block add owl", admin=True)
    assert "in every server" in await chat.say("/animate-admin block add bat", "1")
    assert "content rules" in await chat.say("/animate an owl")
    assert "queued" in await chat.say("/animate an owl", server=B)
    assert "content rules" in await chat.say("/animate a bat", server=B)
    listed = await chat.say("/animate-admin block list", admin=True)
    assert "owl" in listed and "bat" not in listed
    assert "not a block rule" in await chat.say("/animate-admin block remove bat", admin=True)
    assert "no longer blocked" in await chat.say("/animate-admin block remove owl", "1")  # owners: any server's
    assert [r.pattern for r in app.service.access.moderation.block_rules(A)] == ["bat"]
    assert app.service.access.moderation.block_rules(GLOBAL)[0].pattern == "bat"
    app.queue.set_paused(False)
    await app.service.wait_idle()


async def test_workers_are_the_owners_and_reports_are_each_servers(chat: Chat) -> None:
    app = chat.app
    assert "only the bot's owners can use /animate-admin workers" in await chat.say(
        "/animate-admin workers", admin=True
    )
    assert "local" in await chat.say("/animate-admin workers", "1")
    await chat.say("/animate a cat steps:1 frames:8")
    await app.service.wait_idle()
    report = app.service.access.moderation.add_report(1, "discord:9", "u9", "odd", None)
    assert "odd" in await chat.say("/animate-admin reports", admin=True)
    assert "odd" not in await chat.say("/animate-admin reports", "8", server=B, admin=True)
    assert "odd" in await chat.say("/animate-admin reports", "1", server=B)  # owners see every server's
    assert "no open report" in await chat.say(f"/animate-admin reports close {report.id}", "8", server=B, admin=True)
    assert "is closed" in await chat.say(f"/animate-admin reports close {report.id}", admin=True)
    rows: list[Any] = [e for e in app.repo.audit_log() if e.action == "reports"]
    assert [(e.platform, e.workspace_id) for e in rows] == [("discord", "GA")]
