"""PostgreSQL restarted while the bot runs (a real server, restarted with ``pg_ctl restart``): the database thread
connects again, every accepted job ends exactly once and is delivered once, and the log says so in a line, with no
traceback. The fake engine is gated, so the restart falls at a known point: one clip done, one job held mid-run,
one waiting."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.repository import Repository
from tests.fakes.engine import FakeEngine
from tests.harness import make_settings, start_bot
from tests.postgres import PostgresServer, create_database

SMALL = "frames:8 steps:2"


@pytest.mark.timeout(120)
async def test_a_postgresql_restart_mid_run_loses_no_job_and_prints_no_traceback(
    postgres_instance: PostgresServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    engine = FakeEngine(gated=True)
    settings = make_settings(tmp_path, ANIMATEBOT_DATABASE_URL=create_database(postgres_instance.url))
    bot = await start_bot(settings, engine)
    accepted: list[int] = []
    try:

        async def animate(prompt: str, user: str) -> None:
            reply = await bot.say(f"/animate {prompt} {SMALL}", user=user)
            accepted.extend(int(n) for n in re.findall(r"queued #(\d+)", reply))

        await animate("a first cat", "alice")
        assert await asyncio.to_thread(engine.wait_for_step)
        engine.release(2)  # the first clip is made and delivered before the restart
        await bot.idle()
        assert "done #1: clip posted" in bot.printed

        await animate("a second cat", "bob")
        await animate("a third cat", "carol")
        assert await asyncio.to_thread(engine.wait_for_step)  # #2 is running, held at its first step; #3 waits

        await asyncio.to_thread(postgres_instance.restart)  # every connection the bot held is cut

        await animate("a fourth cat", "dave")  # accepted on a new connection
        await animate("a fifth cat", "erin")
        await animate("a sixth cat", "alice")
        engine.open_gates()  # #2 reports progress and finishes, the rest run, all on the new connection
        await bot.idle()
    finally:
        engine.open_gates()
        await bot.app.stop(grace_s=5)

    assert accepted == [1, 2, 3, 4, 5, 6]
    jobs = [bot.app.repo.job(job_id) for job_id in accepted]  # the bot has stopped: read directly
    assert [(j.status, j.attempts, j.delivery) for j in jobs if j] == [("succeeded", 1, "clip")] * 6
    for job_id in accepted:
        assert bot.printed.count(f"done #{job_id}: clip posted") == 1, bot.printed
    lost = [r for r in caplog.records if "connection was lost" in r.getMessage()]
    assert lost and all(r.levelno == logging.WARNING and r.exc_info is None for r in lost)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    printed = capsys.readouterr()
    assert "Traceback" not in bot.printed + printed.out + printed.err


@pytest.mark.timeout(120)
async def test_a_database_away_when_the_database_thread_starts_is_reached_at_its_first_call(
    postgres_instance: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    # migrated while the server is up; its thread tries to connect once per call (no waiting in a test)
    db = Database(create_database(postgres_instance.url), reconnect_within_s=0)
    repo = Repository(db)
    try:
        postgres_instance.stop(check=True)
        try:
            with pytest.raises(DBAPIError):  # away for longer than the thread tries: the call fails, nothing hangs
                await db.offload(repo.job, 1)
        finally:
            postgres_instance.start()
        assert await db.offload(repo.job, 1) is None  # back: the thread connects at its next call
    finally:
        db.close()
    assert "the database is not reachable" in caplog.text
