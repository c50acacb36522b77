"""Clips stay where they were made, at the service: in a direct message a person reaches only their own
clips (by number, by words, with buttons); a server never lists a DM's clips; /animate-show into a DM
is a re-post of one's own clip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.chat import Actor, Button, Invocation, Message, MessageRef, Place
from storage.scope import EVERYWHERE
from tests.fakes.chat import FakeChat
from tests.fakes.engine import FakeEngine
from tests.harness import make_settings

SERVER = Place("discord", "c1", "guild-a")
FAST = "steps:1 frames:8"


def dm(user: str) -> Place:
    return Place("discord", f"dm-{user}", is_dm=True, private_channel_id=f"dm-{user}")


@dataclass
class Recorder:
    """A responder that keeps every answer."""

    place: Place
    answers: list[Message] = field(default_factory=list)

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        self.answers.append(message)
        return None if ephemeral else MessageRef(self.place, f"answer-{len(self.answers)}")


@dataclass
class Service:
    app: App
    chat: FakeChat

    async def run(self, user: str, place: Place, name: str, text: str = "") -> str:
        responder = Recorder(place)
        await self.app.service.handle_command(self._inv(user, place, responder), name, text)
        await self.app.service.wait_idle()
        return "\n".join(m.plain() for m in responder.answers)

    async def click(self, user: str, place: Place, action: str, job_id: int) -> str:
        responder = Recorder(place)
        await self.app.service.handle_button(self._inv(user, place, responder), Button(action, job_id, "").custom_id)
        return "\n".join(m.plain() for m in responder.answers)

    def _inv(self, user: str, place: Place, responder: Recorder) -> Invocation:
        return Invocation(Actor("discord", user, user.title()), place, responder)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    # Direct messages on (the setting may not exist in this version: extra settings are ignored).
    app = build_app(make_settings(tmp_path, ANIMATEBOT_DIRECT_MESSAGES="on"), engine=FakeEngine())
    chat = FakeChat(platform="discord")
    app.service.add_adapter(chat)
    await app.start()
    yield Service(app, chat)
    await app.stop(grace_s=5)


async def test_in_a_direct_message_a_person_reaches_only_their_own_clips(service: Service) -> None:
    await service.run("alice", SERVER, "animate", f"lighthouse by alice {FAST}")
    await service.run("bob", SERVER, "animate", f"lighthouse by bob {FAST}")
    await service.run("alice", dm("alice"), "animate", f"lighthouse in a dm {FAST}")
    alice_server, bob_server, alice_dm = service.app.repo.history(EVERYWHERE)[::-1]
    assert alice_dm.private_channel == "dm-alice" and alice_server.private_channel is None

    listed = await service.run("alice", dm("alice"), "animate-history", "mine lighthouse")
    assert "lighthouse by alice" in listed and "lighthouse in a dm" in listed and "by bob" not in listed
    missing = await service.run("alice", dm("alice"), "animate-show", "9999")
    shown = await service.run("alice", dm("alice"), "animate-show", str(bob_server.id))
    assert shown.replace(f"#{bob_server.id}", "#N") == missing.replace("#9999", "#N")
    assert "posted again" in await service.run("alice", dm("alice"), "animate-show", str(alice_server.id))
    (repost,) = service.app.repo.reposts(alice_server.id)
    assert repost.channel_id == "dm-alice"
    assert service.app.repo.job(alice_server.id).clip_message_id != repost.message_id  # type: ignore[union-attr]

    # Bob, in his DM or on the server, never reaches Alice's DM clip.
    assert "lighthouse in a dm" not in await service.run("bob", dm("bob"), "animate-history", "mine lighthouse")
    assert "lighthouse in a dm" not in await service.run("bob", SERVER, "animate-history", "lighthouse")
    assert "lighthouse in a dm" not in await service.run("alice", SERVER, "animate-history", "user:mine")
    for place in (dm("bob"), SERVER):
        for action in ("reroll", "delete", "approve", "report"):
            answered = await service.click("bob", place, action, alice_dm.id)
            assert answered.replace(f"#{alice_dm.id}", "#N") == (
                await service.click("bob", place, action, 9999)
            ).replace("#9999", "#N"), action
    assert (
        await service.app.service.remix_defaults(
            Invocation(Actor("discord", "bob"), dm("bob"), Recorder(dm("bob"))), alice_dm.id
        )
        is None
    )
    assert len(service.app.repo.history(EVERYWHERE)) == 3 and not service.app.repo.job(alice_dm.id).deleted  # type: ignore[union-attr]

    # Delete from Alice's server card removes the re-post in her DM too.
    assert f"deleted #{alice_server.id}" in await service.click("alice", SERVER, "delete", alice_server.id)
    assert repost.message_id in [ref.message_id for ref in service.chat.deleted]
