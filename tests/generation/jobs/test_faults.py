"""Faults on the job path are logged and survived, never swallowed: a claim, an end or an event that cannot
be written is tried again, or its job goes back in line; a worker loop that dies is restarted by its
supervisor, and ``/animate-admin workers`` shows the restart.

Each fault comes through a real seam: the storage object (or the queue, or the event sink) handed to
the worker, whose method fails for its first N calls; the database underneath is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.service.replies import worker_line
from generation.jobs.events import EventKind, JobEvent
from generation.jobs.finish import WRITE_TRIES
from generation.jobs.local import Worker
from generation.jobs.queue import CLAIM_TRIES, JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.db import Database
from storage.models import Job
from storage.repository import Repository
from tests.fakes.engine import FakeEngine
from tests.generation.jobs.conftest import Events, until

pytestmark = pytest.mark.timeout(120)


class WriteLost(Exception):
    """What the database said, as far as the job path can tell (a dropped connection, a full disk)."""


class FlakyRepository(Repository):
    """A real repository whose ``claim`` / ``end_job`` fail for their first ``fails[name]`` calls."""

    def __init__(self, db: Database, **fails: int) -> None:
        super().__init__(db)
        self.fails = dict(fails)
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.calls[name] <= self.fails.get(name, 0):
            raise WriteLost(f"{name} lost its connection (call {self.calls[name]})")

    def claim(self, *args: Any, **kwargs: Any) -> Job | None:
        self._maybe_fail("claim")
        return super().claim(*args, **kwargs)

    def end_job(self, *args: Any, **kwargs: Any) -> Job | None:
        self._maybe_fail("end_job")
        return super().end_job(*args, **kwargs)


class StumblingQueue(JobQueue):
    """A real queue whose ``has_waiting`` raises once: the worker's loop dies right there."""

    stumbles = 1

    def has_waiting(self) -> bool:
        if self.stumbles:
            self.stumbles -= 1
            raise RuntimeError("the queue stumbled")
        return super().has_waiting()


@dataclass
class Rig:
    repo: FlakyRepository
    queue: JobQueue
    worker: Worker
    events: Events


async def _rig(tmp_path: Path, *, queue_cls: type[JobQueue] = JobQueue, sink: Any = None, **fails: int) -> Rig:
    repo = FlakyRepository(Database(f"sqlite:///{tmp_path / 'jobs.db'}"), **fails)
    limits = Limits(max_active_per_user=10, max_per_hour=100, queue_cap=100)
    queue = await asyncio.to_thread(queue_cls, repo, limits)  # a queue reads its rows when made: off the loop
    events = Events()
    worker = Worker(queue, FakeEngine(), media_dir=tmp_path / "clips", on_event=sink or events)
    await worker.start()
    return Rig(repo, queue, worker, events)


@pytest.fixture
async def rigs() -> AsyncIterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        await rig.worker.stop(5)
        rig.repo.db.close()


async def _submit(rig: Rig, prompt: str = "a cat") -> int:
    sub = Submission(GenerationParams(prompt=prompt, steps=2, frames=8), "console:alice", "alice", "console")
    return (await rig.repo.db.offload(rig.queue.accept, sub)).job.id


async def _ended(rig: Rig, job_id: int) -> Job:
    await until(lambda: any(e.kind.terminal for e in rig.events.seen if e.job_id == job_id), what=f"job {job_id}")
    await asyncio.wait_for(rig.worker.wait_idle(), 60)
    job = await rig.repo.db.offload(rig.repo.job, job_id)
    assert job is not None
    return job


def _terminal(rig: Rig, job_id: int) -> list[str]:
    return [str(e.kind) for e in rig.events.seen if e.job_id == job_id and e.kind.terminal]


async def test_a_claim_write_that_fails_is_tried_again(
    tmp_path: Path, rigs: list[Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rigs.append(rig := await _rig(tmp_path, claim=CLAIM_TRIES - 1))
    job_id = await _submit(rig)
    job = await _ended(rig, job_id)
    assert (job.status, job.attempts, _terminal(rig, job_id)) == ("succeeded", 1, ["succeeded"])
    assert f"job #{job_id}: writing its claim failed (try 1 of {CLAIM_TRIES})" in caplog.text
    assert Path(str(job.output_path)).exists()


async def test_a_claim_that_cannot_be_written_puts_its_job_back_in_line_and_it_runs_later(
    tmp_path: Path, rigs: list[Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rigs.append(rig := await _rig(tmp_path, claim=CLAIM_TRIES))
    job_id = await _submit(rig)
    job = await _ended(rig, job_id)
    # The first claim never reached the row: the job ran once it could be claimed, as its first attempt,
    # and ended exactly once; the person's slot is free again.
    assert (job.status, job.attempts, _terminal(rig, job_id)) == ("succeeded", 1, ["succeeded"])
    assert f"job #{job_id}: its claim could not be written; it goes back in line" in caplog.text
    assert rig.repo.calls["claim"] == CLAIM_TRIES + 1
    assert not rig.queue.has_active() and rig.queue.check("console:alice").allowed
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [Path(str(job.output_path)).name]


async def test_an_end_write_that_fails_is_tried_again(
    tmp_path: Path, rigs: list[Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rigs.append(rig := await _rig(tmp_path, end_job=WRITE_TRIES - 1))
    job_id = await _submit(rig)
    job = await _ended(rig, job_id)
    assert (job.status, job.attempts, _terminal(rig, job_id)) == ("succeeded", 1, ["succeeded"])
    assert f"writing job #{job_id}'s end failed (try 1 of {WRITE_TRIES - 1})" in caplog.text
    assert Path(str(job.output_path)).exists()


async def test_an_end_that_cannot_be_written_puts_the_job_back_in_line_with_the_attempt_counted(
    tmp_path: Path, rigs: list[Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rigs.append(rig := await _rig(tmp_path, end_job=WRITE_TRIES))
    job_id = await _submit(rig)
    job = await _ended(rig, job_id)
    assert (job.status, job.attempts, _terminal(rig, job_id)) == ("succeeded", 2, ["succeeded"])
    assert f"job #{job_id} is back in line" in caplog.text
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [Path(str(job.output_path)).name]


async def test_a_terminal_event_the_sink_refuses_is_offered_again(
    tmp_path: Path, rigs: list[Rig], caplog: pytest.LogCaptureFixture
) -> None:
    delivered: list[JobEvent] = []
    refusals = [1]

    async def sink(event: JobEvent) -> None:
        if event.kind == EventKind.SUCCEEDED and refusals[0]:
            refusals[0] -= 1
            raise RuntimeError("delivery could not take it")
        delivered.append(event)
        await rig.events(event)

    rigs.append(rig := await _rig(tmp_path, sink=sink))
    job_id = await _submit(rig)
    job = await _ended(rig, job_id)
    assert job.status == "succeeded"
    assert [str(e.kind) for e in delivered if e.kind.terminal] == ["succeeded"]
    assert "the event handler failed" in caplog.text and "delivery could not take it" in caplog.text


async def test_a_worker_loop_that_dies_is_logged_restarted_and_shown_to_the_admins(
    tmp_path: Path, rigs: list[Rig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="animatebot.workers")
    rigs.append(rig := await _rig(tmp_path, queue_cls=StumblingQueue))
    await until(lambda: "the worker task died; restarting it" in caplog.text, what="the loop's death")
    record = next(r for r in caplog.records if "the worker task died" in r.getMessage())
    assert record.exc_info is not None and "the queue stumbled" in str(record.exc_info[1])  # the traceback
    job_id = await _submit(rig)
    job = await _ended(rig, job_id)
    assert job.status == "succeeded"  # the restarted loop runs jobs
    [state] = await rig.worker.workers()
    assert state.restarts == 1 and state.jobs_done == 1
    assert "restarted 1 time" in worker_line(state) and "the queue stumbled" in worker_line(state)
