"""The worker claims the next job while the current one decodes, and the GPU goes straight on to it.

Driven through the gated FakeEngine: the test decides when each step and each decode ends, so
nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generation.jobs.events import JobEvent
from generation.jobs.local import Worker
from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.db import Database
from storage.repository import Repository
from tests.fakes.engine import FakeEngine


@dataclass
class Events:
    seen: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, event: JobEvent) -> None:
        self.seen.append((str(event.kind), event.job_id))


@dataclass
class Setup:
    repo: Repository
    queue: JobQueue
    engine: FakeEngine
    worker: Worker
    events: Events


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    repo = Repository(db)
    queue = JobQueue(repo, Limits(max_active_per_user=10, max_per_hour=100, queue_cap=100))
    engine = FakeEngine(gated=True, decode_gate=True, size=8, frames=1)
    events = Events()
    worker = Worker(queue, engine, media_dir=tmp_path / "clips", on_event=events)
    yield Setup(repo, queue, engine, worker, events)
    engine.open_gates()  # a test that failed half way leaves no generation waiting at a gate
    await worker.stop(5)
    db.close()


def sub(user: str, prompt: str) -> Submission:
    params = GenerationParams(prompt=prompt, steps=2, frames=8, format="webp")
    return Submission(params, f"t:{user}", user, "t", "c")


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition the code under test will make true; a generous bound, not a timing assumption."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def status(s: Setup, job_id: int) -> str:
    job = s.repo.job(job_id)
    assert job is not None
    return job.status


async def test_next_job_is_claimed_during_the_decode_and_starts_back_to_back(setup: Setup) -> None:
    s = setup
    a0 = s.queue.accept(sub("alice", "a0")).job
    a1 = s.queue.accept(sub("alice", "a1")).job
    await s.worker.start()
    assert await asyncio.to_thread(s.engine.wait_for_step)  # a0 waits at its first step
    # The claim is made in memory and a0 runs at once; its row follows on the database thread.
    await until(lambda: status(s, a0.id) == "running", "a0's claim written")
    assert status(s, a1.id) == "queued"

    # Bob asks while a0 is denoising. The claim comes after a0's last step, so the fair order sees him:
    # never served, he goes before alice's second clip.
    b0 = s.queue.accept(sub("bob", "b0")).job
    s.engine.release(2)
    assert await asyncio.to_thread(s.engine.wait_for_decode)  # a0: denoised, now "decoding"
    await until(lambda: status(s, b0.id) == "running", "bob's job claimed while a0 decodes")
    assert status(s, a0.id) == "running" and status(s, a1.id) == "queued"
    assert [p.prompt for p in s.engine.generated] == ["a0"]  # b0 waits for the engine, not the other way round
    assert not s.worker.idle_gaps.values

    s.engine.release_decode()  # a0 returns; b0 was handed over already and starts at once
    assert await asyncio.to_thread(s.engine.wait_for_step)
    assert [p.prompt for p in s.engine.generated] == ["a0", "b0"]
    assert len(s.worker.idle_gaps.values) == 1  # measured for the job started back to back

    s.engine.release(2)
    assert await asyncio.to_thread(s.engine.wait_for_decode)
    await until(lambda: status(s, a1.id) == "running", "alice's second job claimed while b0 decodes")
    s.engine.release_decode()
    assert await asyncio.to_thread(s.engine.wait_for_step)
    s.engine.release(2)
    assert await asyncio.to_thread(s.engine.wait_for_decode)
    s.engine.release_decode()
    await asyncio.wait_for(s.worker.wait_idle(), 60)
    await s.worker.stop()

    assert [status(s, j.id) for j in (a0, b0, a1)] == ["succeeded"] * 3
    assert [p.prompt for p in s.engine.generated] == ["a0", "b0", "a1"]
    assert len(s.worker.idle_gaps.values) == 2
    for job in (a0, b0, a1):  # each job's events in order, exactly one terminal event
        kinds = [kind for kind, job_id in s.events.seen if job_id == job.id]
        assert kinds[0] == "started" and kinds[-1] == "succeeded" and kinds.count("succeeded") == 1


async def test_no_job_is_claimed_ahead_when_the_queue_is_paused_or_stopping(setup: Setup) -> None:
    s = setup
    a0 = s.queue.accept(sub("alice", "a0")).job
    a1 = s.queue.accept(sub("alice", "a1")).job
    await s.worker.start()
    assert await asyncio.to_thread(s.engine.wait_for_step)
    s.queue.set_paused(True)
    s.engine.release(2)
    assert await asyncio.to_thread(s.engine.wait_for_decode)
    s.engine.release_decode()
    await until(lambda: status(s, a0.id) == "succeeded", "a0 done")
    assert status(s, a1.id) == "queued" and not s.worker.idle_gaps.values
    stopping = asyncio.create_task(s.worker.stop())
    await stopping
    assert status(s, a1.id) == "queued"  # still in line for the next start
