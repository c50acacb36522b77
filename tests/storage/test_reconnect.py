"""A connection cut by the server inside a transaction (PostgreSQL's pg_terminate_backend, what a restart does to
every connection): the database thread connects again and runs the call again, because the server answered the
commit with an error (nothing was committed); the write lands exactly once."""

from __future__ import annotations

import logging

import psycopg
import pytest
from sqlalchemy import Table, update

from storage.db import Database
from storage.models import Job
from storage.repository import Repository
from tests.postgres import create_database

JOBS: Table = Job.__table__  # type: ignore[assignment]


async def test_a_transaction_cut_before_its_commit_runs_again_once(
    postgres_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = create_database(postgres_server)
    db = Database(url)
    repo = Repository(db)
    job = repo.insert_job(
        {
            "platform": "console",
            "user_key": "console:a",
            "prompt": "p",
            "params": {},
            "steps": 1,
            "frames": 8,
            "max_bytes": 1,
        }
    )
    runs: list[int] = []

    def bump_then_cut_the_first_time() -> None:
        with db.connection() as connection:
            connection.execute(update(JOBS).where(JOBS.c.id == job.id).values(attempts=JOBS.c.attempts + 1))
            runs.append(1)
            if len(runs) == 1:  # the server ends this connection before the commit
                pid = connection.exec_driver_sql("select pg_backend_pid()").scalar()
                with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as other:
                    assert other.execute("select pg_terminate_backend(%s, 10000)", (pid,)).fetchone() == (True,)

    try:
        await db.offload(bump_then_cut_the_first_time)
        attempts = await db.offload(lambda: repo.job(job.id).attempts)  # type: ignore[union-attr]
    finally:
        db.close()
    assert len(runs) == 2 and attempts == 1  # run again, and the first run's write was rolled back
    (lost,) = [r for r in caplog.records if "connection was lost" in r.getMessage()]
    assert lost.levelno == logging.WARNING and lost.exc_info is None
