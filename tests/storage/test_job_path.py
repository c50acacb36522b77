"""The job path's storage: SQLite tuning, the database thread, and the Core statements."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.models import GLOBAL, JobStatus, utcnow
from storage.repository import DuplicateRequest, Repository


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield database
    database.close()


def new_job(repo: Repository, user: str = "t:ann", **values: object) -> int:
    row = {"platform": "t", "user_key": user, "prompt": "a fox", "params": {"prompt": "a fox"}, "steps": 4}
    return repo.insert_job({**row, "frames": 16, "max_bytes": 1000, **values}).id


def test_sqlite_runs_in_wal_with_synchronous_normal(db: Database) -> None:
    with db.connection() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


async def test_offload_runs_on_one_database_thread_never_the_loop(db: Database) -> None:
    loop_thread = threading.get_ident()
    first = await db.offload(threading.get_ident)
    second = await db.offload(threading.get_ident)
    assert first == second != loop_thread
    repo = Repository(db)
    job_id = await db.offload(new_job, repo)
    job = await db.offload(repo.job, job_id)
    assert job is not None and job.prompt == "a fox"
    with pytest.raises(ZeroDivisionError):
        await db.offload(lambda: 1 / 0)


def test_reads_take_no_write_lock(db: Database, tmp_path: Path) -> None:
    repo = Repository(db)
    job_id = new_job(repo)
    writer = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        job = repo.job(job_id)  # a read still answers at once (with the lock it would wait, then fail)
        assert job is not None and repo.tally(job_id).approve == 0 and repo.ban_of("t:ann", GLOBAL) is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_insert_fills_the_defaults_and_refuses_a_repeated_request(db: Database) -> None:
    repo = Repository(db)
    job = repo.job(new_job(repo, request_key="slack:1"))
    assert job is not None
    assert (job.status, job.attempts, job.delivery, job.deleted, job.negative_prompt) == (
        "queued",
        0,
        "pending",
        False,
        "",
    )
    assert job.created_at is not None and job.created_at.tzinfo is not None
    with pytest.raises(DuplicateRequest) as repeated:
        new_job(repo, request_key="slack:1")
    assert repeated.value.job.id == job.id


def test_claim_counts_the_attempt_fixes_a_missing_seed_and_happens_once(db: Database) -> None:
    repo = Repository(db)
    random_seed, chosen = new_job(repo), new_job(repo, seed=7)
    started = utcnow()
    claimed = repo.claim(random_seed, started, seed=1234)
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.seed, claimed.started_at) == ("running", 1, 1234, started)
    assert repo.claim(random_seed, started, seed=99) is None  # not queued any more
    kept = repo.claim(chosen, started, seed=1234)
    assert kept is not None and kept.seed == 7  # the user's seed stays
    assert repo.transition(chosen, [JobStatus.RUNNING.value], status=JobStatus.SUCCEEDED.value, notes="x")
    assert not repo.transition(chosen, [JobStatus.RUNNING.value], status=JobStatus.FAILED.value)
    assert repo.last_started_of("t:ann") == started and repo.last_started_of("t:nobody") is None


def test_no_commit_checkpoints_the_log_a_thread_of_its_own_does(db: Database, tmp_path: Path) -> None:
    repo = Repository(db)
    with db.connection() as c:
        assert c.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0  # no commit waits for a checkpoint
    assert any(t.name == "animatebot-db-checkpoint" for t in threading.enumerate())
    new_job(repo)
    db.close()  # the last connection checkpoints the log into the database file and removes it
    assert not (tmp_path / "jobs.db-wal").exists()
    reopened = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        assert Repository(reopened).job(1) is not None
    finally:
        reopened.close()


async def test_the_database_thread_takes_a_claim_first_and_bookkeeping_last(db: Database) -> None:
    gate, order = threading.Event(), []
    blocker = db.submit_first(gate.wait, 30)  # holds the thread while the others queue up
    later = asyncio.ensure_future(db.offload_later(order.append, "later"))
    normal = asyncio.ensure_future(db.offload(order.append, "normal"))
    await asyncio.sleep(0)  # both queued
    first = db.submit_first(order.append, "first")
    gate.set()
    await asyncio.gather(later, normal, asyncio.wrap_future(first))
    assert blocker.result() is True
    assert order == ["first", "normal", "later"]
