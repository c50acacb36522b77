"""The use cases through the console adapter, on the tiny pipeline and a real SQLite file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from bot.settings import Settings
from generation.params import GenerationParams
from storage.models import AuditEntry
from storage.scope import EVERYWHERE
from tests.harness import Bot, make_settings, start_bot

SMALL = "frames:8 steps:1"


def job_ids(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"queued #(\d+)", text)]


async def test_animate_queues_generates_and_delivers(bot: Bot) -> None:
    reply = await bot.say(f"/animate a smiling girl motion:zoom-in@0.8 {SMALL} seed:7")
    assert "queued #1, next in line, about" in reply
    await bot.idle()
    job = bot.app.repo.job(1)
    assert job is not None and job.status == "succeeded" and job.delivery == "clip"
    assert job.seed == 7 and job.motions_used == "zoom-in@0.8" and job.steps_used == 1
    assert Path(job.output_path or "").read_bytes()[:6] == b"GIF89a"
    assert f"clip: {job.output_path}" in bot.printed
    assert "done #1: clip posted" in bot.printed
    assert "generating" in bot.printed  # progress edits reached the chat


async def test_bad_input_gets_a_clear_message_and_no_job(bot: Bot) -> None:
    reply = await bot.say("/animate x motion:warp")
    assert "unknown motion 'warp'" in reply and "zoom-in" in reply
    assert bot.app.repo.history(EVERYWHERE, limit=5) == []


async def test_over_the_limit_says_when_and_writes_no_row(tmp_path: Path, tiny_engine: Any) -> None:
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER=1), tiny_engine)
    try:
        bot.app.queue.set_paused(True)  # keep the first job waiting
        assert job_ids(await bot.say(f"/animate one {SMALL}"))
        refusal = await bot.say(f"/animate two {SMALL}")
        assert "limit is 1" in refusal and "try again when one finishes" in refusal
        assert len(bot.app.repo.history(EVERYWHERE, limit=10)) == 1
        # An admin is exempt.
        assert job_ids(await bot.say(f"/animate three {SMALL}", user="boss"))
        bot.app.queue.set_paused(False)
        await bot.idle()
    finally:
        await bot.app.stop()


class FailingOnce:
    """The real tiny engine, made to hit CUDA out-of-memory inside the pipeline call once."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.fail_next = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def generate(self, params: GenerationParams, *, progress: Any = None, should_cancel: Any = None) -> Any:
        if self.fail_next:
            self.fail_next = False

            def oom(step: int, total: int) -> None:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

            return self.engine.generate(params, progress=oom, should_cancel=should_cancel)
        return self.engine.generate(params, progress=progress, should_cancel=should_cancel)


async def test_out_of_memory_fails_that_job_readably_and_the_next_succeeds(
    settings: Settings, tiny_engine: Any
) -> None:
    bot = await start_bot(settings, FailingOnce(tiny_engine))
    try:
        await bot.say(f"/animate first {SMALL}")
        await bot.say(f"/animate second {SMALL}")
        await bot.idle()
        first, second = bot.app.repo.job(1), bot.app.repo.job(2)
        assert first is not None and first.status == "failed"
        assert "memory" in (first.error or "").lower() and "Traceback" not in (first.error or "")
        assert "failed #1" in bot.printed
        assert second is not None and second.status == "succeeded"
    finally:
        await bot.app.stop()


async def test_model_switch_is_admin_only_audited_and_survives_restart(settings: Settings, tiny_engine: Any) -> None:
    bot = await start_bot(settings, tiny_engine)
    refused = await bot.say("/animate-admin model dreamshaper", user="mallory")
    assert "only admins" in refused
    switched = await bot.say("/animate-admin model dreamshaper", user="boss")
    assert "base model switched to dreamshaper" in switched
    unknown = await bot.say("/animate-admin model nosuchmodel", user="boss")
    assert "unknown model" in unknown and "epicrealism" in unknown
    await bot.app.stop()

    bot = await start_bot(settings, tiny_engine)  # a restart: same database, new process state
    try:
        assert "▶ dreamshaper" in await bot.say("/animate-admin models", user="boss")
        await bot.say(f"/animate after the switch {SMALL}")
        await bot.idle()
        job = bot.app.repo.history(EVERYWHERE, limit=1)[0]
        assert job.status == "succeeded" and job.model_used == "dreamshaper"
        audit = bot.app.repo.audit_log()
        assert [(a.actor_key, a.action, a.allowed) for a in reversed(audit)] == [
            ("console:mallory", "model", False),
            ("console:boss", "model", True),
        ]  # the unknown name was refused by the grammar, before any admin action
        assert all(isinstance(a, AuditEntry) for a in audit)
    finally:
        await bot.app.stop()


async def test_review_reroll_remix_delete(bot: Bot) -> None:
    await bot.say(f"/animate a red fox motion:pan-left {SMALL}")
    await bot.idle()
    assert "#1" in await bot.say("/animate-review")
    assert "1 approval" in await bot.say("approve 1", user="alice")
    assert "2 approvals" in await bot.say("approve 1", user="bob")
    changed = await bot.say("reject 1", user="bob")  # one vote per person, changeable
    assert "1 approval" in changed and "1 rejection" in changed
    assert "No clips found" in await bot.say("/animate-review")

    await bot.say("reroll 1", user="carol")
    await bot.say("remix 1 a blue fox motion:zoom-out", user="carol")
    await bot.idle()
    parent = bot.app.repo.job(1)
    reroll, remix = bot.app.repo.job(2), bot.app.repo.job(3)
    assert parent is not None and reroll is not None and remix is not None
    assert (reroll.parent_id, reroll.lineage, reroll.prompt) == (1, "reroll", "a red fox")
    assert reroll.seed != parent.seed and reroll.motions_used == "pan-left@0.75"
    assert (remix.parent_id, remix.lineage, remix.prompt, remix.motions_used) == (
        1,
        "remix",
        "a blue fox",
        "zoom-out@0.75",
    )

    assert "only the owner of #1 or an admin" in await bot.say("delete 1", user="bob")
    assert "deleted #1" in await bot.say("delete 1", user="alice")
    assert not Path(parent.output_path or "").exists()
    assert "deleted #2" in await bot.say("delete 2", user="boss")


async def test_queue_cancel_history_show(bot: Bot) -> None:
    bot.app.queue.set_paused(True)
    await bot.say(f"/animate a lighthouse at night {SMALL}")
    await bot.say(f"/animate a sailing boat {SMALL}", user="bob")
    view = await bot.say("/animate-queue")
    assert "paused" in view and "1. #1 a lighthouse at night" in view and "2. #2 a sailing boat" in view
    assert "is not yours" in await bot.say("/animate-cancel 2")
    assert "cancelled #1" in await bot.say("/animate-cancel")
    bot.app.queue.set_paused(False)
    await bot.idle()
    assert "cancelled #1" in bot.printed
    mine = await bot.say("/animate-history mine")
    assert "#1 [cancelled] a lighthouse at night" in mine and "sailing" not in mine
    found = await bot.say("/animate-history boat")
    assert "#2" in found and "lighthouse" not in found
    shown = await bot.say("/animate-show 2")
    assert "clip:" in shown and "#2 posted again" in shown
    assert "there is no clip #99" in await bot.say("/animate-show 99")


async def test_banned_user_is_refused(bot: Bot) -> None:
    assert "can no longer make clips" in await bot.say("/animate-admin ban @mallory spamming", user="boss")
    refused = await bot.say(f"/animate spam {SMALL}", user="mallory")
    assert "banned" in refused and "spamming" in refused
    assert "can make clips again" in await bot.say("/animate-admin unban mallory", user="boss")
    assert job_ids(await bot.say(f"/animate welcome back {SMALL}", user="mallory"))
    await bot.idle()


async def test_a_job_over_the_time_limit_is_stopped_and_failed(tmp_path: Path, tiny_engine: Any) -> None:
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_JOB_TIMEOUT_S=0.05), tiny_engine)
    try:
        await bot.say("/animate a slow one frames:8 steps:8")
        await bot.idle()
        job = bot.app.repo.job(1)
        assert job is not None and job.status == "failed"
        assert "took longer than" in (job.error or "") and "limit and was stopped" in (job.error or "")
        assert "failed #1" in bot.printed
    finally:
        await bot.app.stop()
