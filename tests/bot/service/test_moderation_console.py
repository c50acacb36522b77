"""Moderation through the console adapter: prompt rules, channel rules, quotas, the NSFW check's
policies, reports, and admin-only settings that survive a restart. Real SQLite, the fake engine,
the tiny random NSFW classifier (its threshold set to 0 where a test needs every clip flagged)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import GLOBAL, AuditEntry, Job
from tests.fakes.engine import FakeEngine
from tests.harness import Bot, make_settings, start_bot

SMALL = "frames:8 steps:1"
FLAG_ALL = {"ANIMATEBOT_SAFETY_THRESHOLD": 0}


def jobs(bot: Bot) -> int:
    with bot.app.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def audit(bot: Bot) -> list[AuditEntry]:
    return list(reversed(bot.app.repo.audit_log(200)))


async def started(tmp_path: Path, **settings: Any) -> Bot:
    return await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=5, **settings), FakeEngine())


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    running = await started(tmp_path)
    yield running
    await running.app.stop()


async def test_the_issue_console_run_block_ass_accepts_class_refuses_4ss(bot: Bot) -> None:
    assert "blocked ass (rule #1)" in await bot.say("/animate-admin block add ass", user="boss")
    accepted = await bot.say(f"/animate a class photo {SMALL}")
    assert "queued #1" in accepted
    await bot.idle()  # job #1's progress edits print to the same console: none may fall inside the next answer
    refused = await bot.say(f"/animate a 4$$ joke {SMALL}")
    assert refused.strip().count("\n") == 0, refused  # one line
    assert "not allowed by this server's content rules" in refused
    assert "ass" not in refused.lower().replace("class", "")  # the matched word is never repeated
    assert jobs(bot) == 1  # no row for the refused prompt
    listing = await bot.say("/animate-admin block list", user="boss")
    assert "#1 ass" in listing
    entry = next(e for e in audit(bot) if e.action == "prompt-refused")
    assert entry.actor_key == "console:alice" and "rule #1 'ass'" in entry.detail and not entry.allowed
    await bot.idle()


async def test_negative_prompt_remix_and_disguises_are_checked(bot: Bot) -> None:
    await bot.say("/animate-admin block add big cat", user="boss")
    await bot.say("/animate-admin block add /n[a4]zi/", user="boss")
    assert "queued #1" in await bot.say(f"/animate a lighthouse {SMALL}")
    await bot.idle()
    assert "negative prompt is not allowed" in await bot.say(f'/animate a dog neg:"a BIG-cat" guidance:2 {SMALL}')
    assert "content rules" in await bot.say(f"/animate a n4zi flag {SMALL}")
    assert "content rules" in await bot.say("remix 1 a b.i.g c4t")
    assert "content rules" in await bot.say(f"/animate the b i g cat {SMALL}")
    assert "queued #2" in await bot.say(f"/animate a big dog and a cat {SMALL}")
    assert jobs(bot) == 2
    assert "refused by rule #1" in await bot.say("/animate-admin block test one big  cat", user="boss")
    assert "accepted" in await bot.say("/animate-admin block test a bigcatalogue", user="boss")
    assert "no longer blocked" in await bot.say("/animate-admin block remove big cat", user="boss")
    assert "queued #3" in await bot.say(f"/animate a big cat {SMALL}")
    await bot.idle()


async def test_a_non_admin_is_refused_every_moderation_command_and_each_try_is_audited(bot: Bot) -> None:
    commands = [
        "block add ass",
        "block list",
        "block test hello",
        "block remove ass",
        "channels deny",
        "channels list",
        "channels clear",
        "safety allow",
        "safety show",
        "quota user:1",
        "roles add 123",
        "release 1",
        "reports",
    ]
    for command in commands:
        answer = await bot.say(f"/animate-admin {command}", user="mallory")
        assert "only admins can use /animate-admin" in answer, command
    refused = [e for e in audit(bot) if e.actor_key == "console:mallory"]
    assert len(refused) == len(commands) and not any(e.allowed for e in refused)
    assert bot.app.service.access.moderation.block_rules(GLOBAL) == []
    assert bot.app.service.access.moderation.channel_rules("console", "") == []
    assert "queued #1" in await bot.say(f"/animate ass {SMALL}", user="mallory")  # no rule was added
    await bot.idle()


async def test_channel_rules_refuse_elsewhere_and_name_where_it_works(bot: Bot) -> None:
    await bot.say("/animate-admin channels allow #art", user="boss")
    refused = await bot.say(f"/animate a cat {SMALL}")
    assert "/animate works only in #art" in refused and jobs(bot) == 0
    assert "works everywhere except #console" in await bot.say("/animate-admin channels deny here", user="boss")
    assert "every channel except #console" in await bot.say(f"/animate a cat {SMALL}")
    await bot.say("/animate-admin channels clear", user="boss")
    assert "queued #1" in await bot.say(f"/animate a cat {SMALL}")
    changes = [e.action for e in audit(bot) if e.allowed and e.action == "channels"]
    assert len(changes) == 3
    await bot.idle()


async def test_daily_quota_says_when_to_retry_and_admins_are_exempt(bot: Bot) -> None:
    assert "1 per person" in await bot.say("/animate-admin quota user:1", user="boss")
    assert "queued #1" in await bot.say(f"/animate one {SMALL}")
    refused = await bot.say(f"/animate two {SMALL}")
    assert "daily quota" in refused and re.search(r"try again in (23 h 59 min|24 h)", refused), refused
    assert "queued #2" in await bot.say(f"/animate three {SMALL}", user="boss")
    await bot.say("/animate-admin quota user:0 server:2", user="boss")
    refused = await bot.say(f"/animate four {SMALL}", user="carol")
    assert "this server has used its daily cap (2 clips" in refused and "try again in" in refused
    assert jobs(bot) == 2
    await bot.idle()


async def test_daily_quota_counts_clip_length(bot: Bot) -> None:
    await bot.say("/animate-admin quota user:2", user="boss")
    assert "queued #1" in await bot.say(f"/animate one {SMALL}")
    refused = await bot.say("/animate two frames:32 steps:1")  # 2 units, 1 left
    assert "daily quota" in refused and "this one counts 2" in refused, refused
    assert "queued #2" in await bot.say(f"/animate three {SMALL}")
    assert jobs(bot) == 2
    await bot.idle()


async def test_flagged_clip_is_withheld_by_default_and_an_admin_releases_it(tmp_path: Path) -> None:
    bot = await started(tmp_path, **FLAG_ALL)
    try:
        await bot.say(f"/animate a seaside {SMALL}")
        await bot.idle()
        job = bot.app.repo.job(1)
        assert job is not None and job.safety_flagged and job.safety_score is not None
        assert job.safety_decision == "block" and job.delivery == "withheld"
        assert "clip:" not in bot.printed and "your clip #1" in bot.printed and "was withheld" in bot.printed
        assert "#1 is withheld" in await bot.say("/animate-show 1")
        assert "only admins" in await bot.say("/animate-admin release 1", user="mallory")
        assert "released #1" in await bot.say("/animate-admin release 1", user="boss")
        job = bot.app.repo.job(1)
        assert job is not None and job.safety_decision == "released" and job.delivery == "clip"
        assert f"clip: {job.output_path}" in bot.printed
        assert "not withheld" in await bot.say("/animate-admin release 1", user="boss")
    finally:
        await bot.app.stop()


async def test_spoiler_policy_hides_behind_reveal_and_allow_posts(tmp_path: Path) -> None:
    bot = await started(tmp_path, **FLAG_ALL)
    try:
        assert "spoiler" in await bot.say("/animate-admin safety spoiler", user="boss")
        await bot.say(f"/animate a forest {SMALL}")
        await bot.idle()
        job = bot.app.repo.job(1)
        assert job is not None and job.safety_decision == "spoiler" and "clip:" not in bot.printed
        assert "click Reveal" in bot.printed and "reveal 1" in bot.printed
        assert "revealed by Alice" in await bot.say("reveal 1")
        assert f"clip: {job.output_path}" in bot.printed

        await bot.say("/animate-admin safety allow", user="boss")
        await bot.say(f"/animate a meadow {SMALL}")
        await bot.idle()
        second = bot.app.repo.job(2)
        assert second is not None and second.safety_decision == "allow" and second.delivery == "clip"
        shown = await bot.say("/animate-admin safety show", user="boss")
        assert "#console: allow" in shown and "tiny random NSFW classifier" in shown
    finally:
        await bot.app.stop()


async def test_unflagged_clips_pass_and_safety_off_checks_nothing(tmp_path: Path, bot: Bot) -> None:
    await bot.say(f"/animate a lake {SMALL}")
    await bot.idle()
    job = bot.app.repo.job(1)
    assert job is not None and job.safety_flagged is False and job.safety_decision == "passed"
    off = await started(tmp_path / "off", ANIMATEBOT_SAFETY="off")
    try:
        await off.say(f"/animate a lake {SMALL}")
        await off.idle()
        unchecked = off.app.repo.job(1)
        assert unchecked is not None and unchecked.safety_flagged is None and unchecked.safety_score is None
        assert "off" in await off.say("/animate-admin safety show", user="boss")
    finally:
        await off.app.stop()


async def test_report_records_who_and_why_notifies_the_report_channel_and_lists(tmp_path: Path) -> None:
    bot = await started(tmp_path, ANIMATEBOT_REPORT_CHANNEL="mods")
    try:
        await bot.say(f"/animate a volcano {SMALL}")
        await bot.idle()
        assert "report 1" in bot.printed  # the Report action on the clip
        thanks = await bot.say("report 1 too scary for kids", user="carol")
        assert "reported to the admins" in thanks
        assert "Carol reported clip #1: too scary for kids" in bot.printed
        (report,) = bot.app.service.access.moderation.open_reports(None)
        assert (report.job_id, report.reporter_key, report.reason) == (1, "console:carol", "too scary for kids")
        listing = await bot.say("/animate-admin reports", user="boss")
        assert "report #1: clip #1 by Carol: too scary for kids" in listing
        assert bot.app.repo.job(1).deleted is False  # type: ignore[union-attr]  # a report hides nothing
        assert "report #1 is closed" in await bot.say("/animate-admin reports close 1", user="boss")
        assert "No open reports" in await bot.say("/animate-admin reports", user="boss")
        assert "no open report #1" in await bot.say("/animate-admin reports close 1", user="boss")
        await bot.say("report 1 again", user="dave")
        await bot.say("delete 1", user="boss")
        assert bot.app.service.access.moderation.open_reports(None) == []  # deleting the clip closes its reports
    finally:
        await bot.app.stop()


async def test_moderation_settings_survive_a_restart(tmp_path: Path) -> None:
    first = await started(tmp_path, **FLAG_ALL)
    await first.say("/animate-admin block add ass", user="boss")
    await first.say("/animate-admin safety allow", user="boss")
    await first.say("/animate-admin quota user:7", user="boss")
    await first.app.stop()
    second = await started(tmp_path, **FLAG_ALL)
    try:
        assert "#1 ass" in await second.say("/animate-admin block list", user="boss")
        assert "#console: allow" in await second.say("/animate-admin safety show", user="boss")
        assert "7 per person" in await second.say("/animate-admin quota", user="boss")
        assert "content rules" in await second.say(f"/animate a55 {SMALL}")
    finally:
        await second.app.stop()
