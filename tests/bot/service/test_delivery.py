"""Delivery: re-encoding a stored clip keeps its frames and rate; progress edits follow the throttle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bot.chat import Message, MessageRef
from bot.service.delivery import Delivery
from generation.jobs.events import JobEvent
from generation.jobs.queue import JobQueue, Submission
from generation.media import read_clip
from generation.media.encode import encode_clip
from generation.params import GenerationParams
from storage.db import Database
from storage.repository import Repository


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_read_clip_gives_frames_and_the_played_rate(fmt: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(12)]
    clip = encode_clip(frames, format=fmt, fps=6)
    path = tmp_path / f"clip{clip.extension}"
    path.write_bytes(clip.data)
    decoded, fps = read_clip(path)
    assert len(decoded) == 12 and decoded[0].shape == (64, 96, 3)
    assert fps == 6  # not the request's default 8: a clip slowed by the budget ladder stays slowed


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Edits:
    """A chat adapter that records edits (only what progress delivery calls)."""

    platform: str = "console"
    max_upload_bytes: int = 10 * 1024 * 1024
    supports_remix: bool = False
    edits: list[Message] = field(default_factory=list)

    async def edit(self, ref: MessageRef, message: Message) -> None:
        self.edits.append(message)


async def test_progress_edits_are_throttled_by_the_injected_clock(tmp_path: Path) -> None:
    repo = Repository(Database(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    queue = JobQueue(repo)
    job = queue.accept(Submission(GenerationParams(prompt="a fox"), "console:a", "A", "console", "c")).job
    repo.update_job(job.id, message_id="1")
    assert queue.next_job() is not None  # now running
    adapter, clock = _Edits(), _Clock()
    delivery = Delivery(repo, {"console": adapter}, progress_every_s=2.0, clock=clock)  # type: ignore[dict-item]

    async def step(n: int) -> None:
        delivery.submit(JobEvent("progress", job.id, step=n, total=4))
        await delivery.drain()

    await step(1)  # the first progress always shows
    clock.now += 1.9
    await step(2)  # within 2 s of the last edit: skipped
    clock.now += 0.1
    await step(3)  # 2 s after the last edit: shown
    assert [m.text.split("\n")[0] for m in adapter.edits] == [
        f"#{job.id} generating: step 1/4",
        f"#{job.id} generating: step 3/4",
    ]

    unthrottled = Delivery(repo, {"console": adapter}, progress_every_s=0.0, clock=lambda: 5.0)  # type: ignore[dict-item]
    adapter.edits.clear()
    for n in (1, 2, 3):
        unthrottled.submit(JobEvent("progress", job.id, step=n, total=4))
        await unthrottled.drain()
    assert len(adapter.edits) == 3  # 0 s: every step edits, even at one instant
