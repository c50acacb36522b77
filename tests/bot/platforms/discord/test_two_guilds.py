"""One bot in two Discord guilds: the owner of guild B (Manage Server there, nothing more) runs every
``/animate-admin`` action with guild A's job numbers, users, rules and reports. Each answer is the one a
missing thing gets, nothing of A changes, and A keeps animating on its own model under its own rules.
The real discord.py client and adapter against the local fake Discord, which serves both guilds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storage.models import JobStatus, Tenant
from storage.repository import columns_of
from tests.bot.platforms.discord.test_moderation_discord import Bot, run_bot, text_of
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, ChannelOption, FakeDiscord, Person, RoleOption, UserOption

FAST = {"steps": 1, "frames": 8}
GUILD_B = 900_000_000_000_000_011
CHANNEL_B = 900_000_000_000_000_021
ADMIN_A = Person(user_id=71, name="ann", manage_guild=True)
MEMBER_A = Person(user_id=73, name="amy")
BANNED_A = Person(user_id=74, name="abe")
OWNER_B = Person(user_id=81, name="bert", manage_guild=True)  # owns guild B; not an owner of the bot
MEMBER_B = Person(user_id=83, name="bea")
A = Tenant("discord", str(GUILD_ID))
B = Tenant("discord", str(GUILD_B))


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    server.add_channel({"id": str(CHANNEL_B), "type": 0, "guild_id": str(GUILD_B), "name": "general"})
    yield server
    await server.close()


@pytest.fixture
async def bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Bot]:
    async for running in run_bot(fake, tmp_path):
        yield running


async def say(bot: Bot, person: Person, name: str, channel: int, options: dict[str, Any] | None = None,
              sub: str | None = None) -> str:  # fmt: skip
    answer = await bot.answer(await bot.command(name, options or {}, subcommand=sub, person=person, channel_id=channel))
    return text_of(answer["data"])


async def in_b(bot: Bot, sub: str, **options: Any) -> str:
    return await say(bot, OWNER_B, "animate-admin", CHANNEL_B, options, sub)


async def in_a(bot: Bot, sub: str, **options: Any) -> str:
    return await say(bot, ADMIN_A, "animate-admin", CHANNEL_ID, options, sub)


def snapshot(bot: Bot) -> tuple[Any, ...]:
    """Guild A's rows that guild B's owner might reach: its jobs, its server settings."""
    jobs = [columns_of(job) for job in (bot.app.repo.job(1), bot.app.repo.job(2)) if job is not None]
    row = bot.app.service.access.moderation.server_rules(A.platform, A.workspace_id)
    assert row is not None
    return jobs, (row.user_daily, row.server_daily, row.roles, row.base_model, row.limits, row.paused)


async def test_the_owner_of_guild_b_cannot_reach_guild_a(bot: Bot, fake: FakeDiscord) -> None:
    app = bot.app
    # Guild A: its admin picks A's model, blocks a word in A, bans a member in A; a member makes a clip.
    assert "this server's base model is now dreamshaper" in await in_a(bot, "model", name="dreamshaper")
    assert "on this server" in await in_a(bot, "block", op="add", text="cat")
    assert "no longer make clips here" in await in_a(bot, "ban", user=UserOption(BANNED_A.user_id, "abe"))
    assert "queued #1" in await say(bot, MEMBER_A, "animate", CHANNEL_ID, {"prompt": "a dog", **FAST})
    await fake.wait_for(bot.clips)
    await app.service.wait_idle()
    report = app.service.access.moderation.add_report(1, "discord:73", "amy", "looks odd", None)
    await in_a(bot, "pause")  # A's next job waits in A's queue
    assert "queued #2" in await say(bot, MEMBER_A, "animate", CHANNEL_ID, {"prompt": "a fox", **FAST})
    before = snapshot(bot)

    # Guild B's owner: every action, aimed at A's things, answers as for a thing that does not exist.
    missing = 999
    for real in (1, 2):
        assert await in_b(bot, "release", job=real) == (await in_b(bot, "release", job=missing)).replace(
            f"#{missing}", f"#{real}"
        )
        cancel = await say(bot, OWNER_B, "animate-cancel", CHANNEL_B, {"job": real})
        assert cancel == (await say(bot, OWNER_B, "animate-cancel", CHANNEL_B, {"job": missing})).replace(
            f"#{missing}", f"#{real}"
        )
    closed = await in_b(bot, "reports", close=report.id)
    assert closed == (await in_b(bot, "reports", close=missing)).replace(f"#{missing}", f"#{report.id}")
    assert "looks odd" not in await in_b(bot, "reports")
    removed = await in_b(bot, "block", op="remove", text="cat")
    assert removed == (await in_b(bot, "block", op="remove", text="zebra")).replace("zebra", "cat")
    assert "cat" not in await in_b(bot, "block", op="list")
    assert "accepted" in await in_b(bot, "block", op="test", text="a cat")
    unbanned = await in_b(bot, "unban", user=str(BANNED_A.user_id))
    assert unbanned == (await in_b(bot, "unban", user="75")).replace("75", str(BANNED_A.user_id))
    assert "no longer make clips here" in await in_b(bot, "ban", user=UserOption(MEMBER_A.user_id, "amy"))
    assert "only the bot's owners" in await in_b(bot, "workers")
    folder = await in_b(bot, "model", name=f"./{Path.cwd().name}")
    assert folder == (await in_b(bot, "model", name="./no-such-folder")).replace("no-such-folder", Path.cwd().name)
    assert "this server's base model is now epicrealism" in await in_b(bot, "model", name="epicrealism")
    assert "this server's jobs are paused" in await in_b(bot, "pause")
    assert "this server's jobs run again" in await in_b(bot, "resume")
    assert "at most" in await in_b(bot, "limits", per_user=50)  # above the owners' cap
    assert "per_user:1" in await in_b(bot, "limits", per_user=1)
    await in_b(bot, "channels", op="deny", channel=ChannelOption(CHANNEL_B))
    await in_b(bot, "channels", op="clear")
    await in_b(bot, "safety", policy="allow")
    await in_b(bot, "quota", user_daily=1)
    await in_b(bot, "roles", op="add", role=RoleOption(555))
    await in_b(bot, "roles", op="clear")

    # Nothing of A changed.
    assert snapshot(bot) == before
    assert [r.pattern for r in app.service.access.moderation.block_rules(A)] == ["cat"]
    assert app.repo.ban_of("discord:74", A) is not None
    assert [r.id for r in app.service.access.moderation.open_reports(A)] == [report.id]
    assert app.repo.job(2).status == JobStatus.QUEUED  # type: ignore[union-attr]
    assert app.queue.server_paused(A) and not app.queue.server_paused(B)
    for entry in app.repo.audit_log(100):
        if entry.actor_key == "discord:81":
            assert (entry.platform, entry.workspace_id) == ("discord", str(GUILD_B))

    # A goes on: its admin resumes, its member (banned in B only) animates in A on A's model.
    await in_a(bot, "resume")
    assert "queued #3" in await say(bot, MEMBER_A, "animate", CHANNEL_ID, {"prompt": "a horse", **FAST})
    await fake.wait_for(lambda: len(bot.clips()) == 3)
    await app.service.wait_idle()
    for job_id in (2, 3):
        job = app.repo.job(job_id)
        assert job is not None and job.status == JobStatus.SUCCEEDED and job.model_used == "dreamshaper"
    assert "banned" in await say(bot, MEMBER_A, "animate", CHANNEL_B, {"prompt": "a horse", **FAST})
    # A's admin's rule refuses a prompt in A only.
    assert "content rules" in await say(bot, MEMBER_A, "animate", CHANNEL_ID, {"prompt": "a cat", **FAST})
    assert "queued #4" in await say(bot, MEMBER_B, "animate", CHANNEL_B, {"prompt": "a cat", **FAST})
    await fake.wait_for(lambda: len(bot.clips()) == 4)
    await app.service.wait_idle()
    assert app.repo.job(4).model_used == "epicrealism"  # type: ignore[union-attr]  # B's own choice
