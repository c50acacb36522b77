"""The Slack adapter end to end: signed HTTP requests into bolt, the real service and tiny pipeline,
the real slack-sdk client out to a local fake Slack. Every socket is on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.settings import load_settings
from tests.bot.platforms.slack.harness import (
    CHANNEL,
    FAST,
    OWNER,
    SECRET,
    SlackBot,
    animate_and_wait,
    environment,
    start_bot,
    stop_bot,
)
from tests.fakes.slack_server import (
    FakeSlack,
    form_body,
    signed_headers,
    slash_command,
)

# A clip card's buttons, in order: the review buttons, Save as preset (issue 21), Vary (issue 21), after the clip (22).
CARD_ACTIONS = (
    "reroll",
    "remix",
    "approve",
    "reject",
    "delete",
    "report",
    "preset",
    "vary-subtle",
    "vary-strong",
    "smooth",
    "upscale",
    "extend",
)


async def test_animate_over_http_acks_in_time_and_the_gif_reaches_the_thread(
    fake: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configured only through the environment, as `animatebot run` is.
    for key, value in environment(fake, tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = load_settings()
    bot = await start_bot(settings, fake)
    try:
        assert bot.slack.port == settings.slack_port
        status, body, took = await bot.command("/animate", f"a smiling girl motion:zoom-in {FAST}")
        assert (status, body) == (200, "") and took < 3.0
        await fake.wait_for(lambda: any(u.shared for u in fake.uploads.values()), timeout=40)
        await bot.app.service.wait_idle()
    finally:
        await stop_bot(bot)

    parent = fake.calls_to("chat.postMessage")[0]
    assert parent.args["channel"] == CHANNEL and "thread_ts" not in parent.args
    assert "queued #1" in parent.args["text"]
    parent_ts = next(ts for (ch, ts), m in fake.messages.items() if "thread_ts" not in m)

    updates = [c.args for c in fake.calls_to("chat.update") if c.args["ts"] == parent_ts]
    assert any("generating" in u["text"] for u in updates), updates
    assert "done #1" in updates[-1]["text"]  # the parent ends with the outcome and a link

    upload_steps = [
        m for m in fake.methods() if m in ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")
    ]
    assert upload_steps == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    (upload,) = fake.uploads.values()
    assert upload.data[:4] == b"GIF8" and upload.length == len(upload.data)
    assert (upload.channel, upload.thread_ts) == (CHANNEL, parent_ts)

    buttons = fake.calls_to("chat.postMessage")[-1].args
    assert buttons["thread_ts"] == parent_ts
    values = [e["value"] for b in buttons["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values == [f"animatebot:{a}:1" for a in CARD_ACTIONS]


async def test_bad_signature_and_stale_timestamp_get_401(bot: SlackBot) -> None:
    body = form_body(slash_command("/animate", f"a cat {FAST}", trigger_id="t-forged"))
    forged = signed_headers("not-the-secret", body)
    stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 10 * 60)
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    for headers in (forged, stale, unsigned):
        status, _, _ = await bot.send(body, headers)
        assert status == 401
    assert bot.jobs() == 0
    assert not bot.fake.calls_to("chat.postMessage")


async def test_a_retried_or_redelivered_command_never_makes_a_second_job(bot: SlackBot) -> None:
    body = form_body(slash_command("/animate", f"a dog {FAST}", trigger_id="t-once", response_url=""))
    retry = {**signed_headers(SECRET, body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    results = [await bot.send(body), await bot.send(body, retry), await bot.send(body)]
    assert [r[:2] for r in results] == [(200, "")] * 3
    await bot.fake.wait_for(lambda: any(u.shared for u in bot.fake.uploads.values()), timeout=40)
    await bot.app.service.wait_idle()
    assert bot.jobs() == 1
    assert len(bot.fake.uploads) == 1


async def test_a_refusal_is_the_ephemeral_ack(bot: SlackBot) -> None:
    status, body, took = await bot.command("/animate", "a cat steps:3")
    assert status == 200 and took < 3.0
    answer = json.loads(body)
    assert answer["response_type"] == "ephemeral"
    assert "steps" in answer["text"] and "1, 2, 4" in answer["text"]
    assert bot.jobs() == 0 and not bot.fake.calls_to("chat.postMessage")


async def test_buttons_review_reroll_and_delete(bot: SlackBot) -> None:
    job_id = await animate_and_wait(bot, f"a red fox {FAST}")
    job = bot.app.repo.job(job_id)
    assert job is not None and job.clip_message_id
    ts, file_id = job.clip_message_id.split("/")  # the message with the buttons, and the uploaded clip
    clip_key = (CHANNEL, ts)
    assert bot.fake.uploads[file_id].shared

    bot.fake.ratelimit_next("chat.update", retry_after=0)  # the tally redraw waits out a 429
    status, _, took = await bot.click(f"animatebot:approve:{job_id}", "U0000002", "t-approve")
    assert status == 200 and took < 3.0
    await bot.fake.wait_for(lambda: "1 approval" in bot.fake.messages[clip_key]["text"])
    assert bot.app.repo.tally(job_id).approve == 1
    await bot.fake.wait_for(lambda: bot.fake.responses_for("t-approve"))
    assert "you approved" in bot.fake.responses_for("t-approve")[0]["text"]

    await bot.click(f"animatebot:delete:{job_id}", "U0000003", "t-delete-stranger")
    await bot.fake.wait_for(lambda: bot.fake.responses_for("t-delete-stranger"))
    assert "only the owner" in bot.fake.responses_for("t-delete-stranger")[0]["text"]
    assert not bot.app.repo.job(job_id).deleted  # type: ignore[union-attr]

    await bot.click(f"animatebot:reroll:{job_id}", "U0000002", "t-reroll")
    await bot.fake.wait_for(lambda: len(bot.fake.uploads) == 2 and all(u.shared for u in bot.fake.uploads.values()))
    await bot.app.service.wait_idle()
    child = bot.app.repo.job(job_id + 1)
    assert child is not None and (child.parent_id, child.lineage, child.user_key) == (
        job_id,
        "reroll",
        "slack:U0000002",
    )

    await bot.click(f"animatebot:delete:{job_id}", OWNER, "t-delete-owner")
    await bot.fake.wait_for(lambda: clip_key in bot.fake.deleted and bot.fake.deleted_files)
    assert bot.app.repo.job(job_id).deleted  # type: ignore[union-attr]
    assert bot.fake.deleted_files == [file_id] and file_id not in bot.fake.uploads  # the clip itself is gone too
