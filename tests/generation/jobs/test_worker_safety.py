"""The worker calls the injected safety check on a finished clip's frames and stores its verdict;
the pure daily-window limiter behind the quotas."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from generation.jobs.events import JobEvent
from generation.jobs.local import Worker
from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import DAY_S, when, window_retry_after
from generation.params import GenerationParams
from storage.db import Database
from storage.repository import Repository
from tests.fakes.engine import FakeEngine


async def run_one(tmp_path: Path, safety: Any) -> Any:
    repo = Repository(Database(f"sqlite:///{tmp_path}/w.db"))
    queue = JobQueue(repo)
    events: list[JobEvent] = []

    async def sink(event: JobEvent) -> None:
        events.append(event)

    worker = Worker(queue, FakeEngine(), media_dir=tmp_path / "clips", on_event=sink, safety=safety)
    await worker.start()
    try:
        accepted = queue.accept(
            Submission(GenerationParams(prompt="a cat", steps=1, frames=8), "console:a", "a", "console")
        )
        await asyncio.wait_for(worker.wait_idle(), 60)
    finally:
        await worker.stop(5)
    assert [e.kind for e in events][-1] == "succeeded"
    return repo.job(accepted.job.id)


async def test_the_verdict_is_stored_with_the_job(tmp_path: Path) -> None:
    seen: list[int] = []

    def check(frames: Sequence[Any]) -> tuple[float | None, bool]:
        seen.append(len(frames))
        return 0.93, True

    job = await run_one(tmp_path, check)
    assert seen == [8] and (job.safety_score, job.safety_flagged) == (0.93, True)


async def test_a_failing_check_counts_as_flagged_and_no_check_as_unchecked(tmp_path: Path) -> None:
    def broken(frames: Sequence[Any]) -> tuple[float | None, bool]:
        raise RuntimeError("classifier exploded")

    job = await run_one(tmp_path / "a", broken)
    assert (job.safety_score, job.safety_flagged) == (None, True)
    job = await run_one(tmp_path / "b", None)
    assert (job.safety_score, job.safety_flagged) == (None, None)


def test_the_jobs_package_and_both_back_ends_import_no_torch_and_no_ray() -> None:
    code = (
        "import sys, generation.jobs, generation.jobs.local, generation.jobs.ray, bot.service; "
        "loaded = {'torch', 'transformers', 'diffusers', 'ray'} & set(sys.modules); assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    ("times", "limit", "wait"),
    [
        ([], 1, 0.0),
        ([100.0], 2, 0.0),
        ([100.0], 1, 100.0 + DAY_S - 1000.0),
        ([100.0, 500.0, 900.0], 2, 500.0 + DAY_S - 1000.0),  # the two oldest must leave the window
        ([1000.0 - DAY_S - 1], 1, 0.0),  # older than the window: does not count
    ],
)
def test_window_retry_after(times: list[float], limit: int, wait: float) -> None:
    assert window_retry_after(times, 1000.0, limit) == pytest.approx(wait)


def test_when_reads_like_people_talk() -> None:
    assert [when(5), when(600), when(5400), when(DAY_S - 30), when(7200)] == ["5 s", "10 min", "90 min", "24 h", "2 h"]
