"""A set of takes on Slack (the fake Web API, real slack-bolt and slack-sdk, real service, tiny pipeline):
one upload completed with every take's file, a row of buttons per take, and a Pick clicked from it."""

from __future__ import annotations

import json

from tests.bot.platforms.slack.harness import OWNER, SlackBot, animate_and_wait
from tests.fakes.slack_server import block_action, interactive_body


async def test_two_takes_are_one_message_with_two_files_and_pick_posts_a_card(bot: SlackBot) -> None:
    fake = bot.fake
    job_id = await animate_and_wait(bot, "a kite in the wind variants:2 frames:8 steps:1")
    job = bot.app.repo.job(job_id)
    assert job is not None and job.variant_count == 2 and job.clip_message_id
    (complete,) = [c for c in fake.calls if c.method == "files.completeUploadExternal"]
    files = json.loads(complete.args["files"]) if isinstance(complete.args["files"], str) else complete.args["files"]
    assert [f["title"] for f in files] == [t["path"].rsplit("/", 1)[-1] for t in job.variants or []]
    assert complete.args.get("thread_ts") == job.thread_id

    (card,) = [c for c in fake.calls if c.method == "chat.postMessage" and "2 takes" in str(c.args.get("blocks"))]
    blocks = json.loads(card.args["blocks"]) if isinstance(card.args["blocks"], str) else card.args["blocks"]
    rows = [[e["value"] for e in b["elements"]] for b in blocks if b["type"] == "actions"]
    assert rows[:2] == [
        [
            f"animatebot:pick:{job_id}:{n}",
            f"animatebot:vary-subtle:{job_id}:{n}",
            f"animatebot:vary-strong:{job_id}:{n}",
        ]
        for n in (1, 2)
    ]
    action_ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(action_ids) == len(set(action_ids))  # Slack refuses a message whose action ids repeat

    payload = block_action(
        f"animatebot:pick:{job_id}:2",
        user=OWNER,
        channel=job.channel_id,
        message_ts=job.clip_message_id,
        thread_ts=job.thread_id,
        trigger_id="trigger-pick",
        response_url=fake.response_url("trigger-pick"),
    )
    status, _, _ = await bot.send(interactive_body(payload))
    assert status == 200
    await fake.wait_for(lambda: bot.app.repo.job(job_id + 1) is not None, timeout=20)
    await bot.app.service.wait_idle()
    picked = bot.app.repo.job(job_id + 1)
    assert picked is not None and picked.lineage == "pick" and picked.seed == (job.variants or [])[1]["seed"]
    assert picked.delivery == "clip" and picked.thread_id == job.thread_id
    completes = [c for c in fake.calls if c.method == "files.completeUploadExternal"]
    assert len(completes) == 2 and completes[-1].args.get("thread_ts") == job.thread_id
