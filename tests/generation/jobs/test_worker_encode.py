"""A clip that cannot be encoded or written fails its job with a clear message, and the worker goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from generation.jobs.events import JobEvent
from generation.jobs.local import Worker
from generation.jobs.queue import JobQueue, Submission
from generation.params import GenerationParams
from storage.db import Database
from storage.models import JobStatus
from storage.repository import Repository
from tests.fakes.engine import FakeEngine


async def test_an_unwritable_clip_fails_its_job_and_the_next_job_still_runs(tmp_path: Path) -> None:
    repo = Repository(Database(f"sqlite:///{tmp_path}/w.db"))
    queue = JobQueue(repo)
    events: list[JobEvent] = []

    async def sink(event: JobEvent) -> None:
        events.append(event)

    media = tmp_path / "clips"
    worker = Worker(queue, FakeEngine(), media_dir=media, on_event=sink)
    await worker.start()
    try:
        queue.set_paused(True)
        first = queue.accept(
            Submission(GenerationParams(prompt="a cat", steps=1, frames=8), "console:a", "a", "console")
        )
        media.rmdir()
        media.write_text("not a folder")  # the clip's file cannot be written
        queue.set_paused(False)
        await asyncio.wait_for(worker.wait_idle(), 60)
        media.unlink()
        media.mkdir()
        second = queue.accept(
            Submission(GenerationParams(prompt="a dog", steps=1, frames=8), "console:b", "b", "console")
        )
        await asyncio.wait_for(worker.wait_idle(), 60)
    finally:
        await worker.stop(5)
    failed, succeeded = repo.job(first.job.id), repo.job(second.job.id)
    assert failed is not None and failed.status == JobStatus.FAILED.value
    assert failed.error is not None and failed.error.startswith("could not encode the clip: ")
    assert failed.model_used == "fake"  # what generation made is kept with the failure
    assert succeeded is not None and succeeded.status == JobStatus.SUCCEEDED.value
    assert [(e.kind, e.job_id) for e in events if e.kind in ("failed", "succeeded")] == [
        ("failed", first.job.id),
        ("succeeded", second.job.id),
    ]
    assert next(e for e in events if e.kind == "succeeded").job is not None  # the ended row rides with the event
