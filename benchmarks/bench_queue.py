"""Queue throughput: accept -> dispatch -> complete through the real service, queue, worker and
SQLite, with a no-op generator standing in for the GPU, and 100 simulated users.

    python benchmarks/bench_queue.py [--jobs 500] [--users 100]

Prints jobs per second end to end and the accept latency (median, p99), which is what a user
waits for before "queued #id" can be sent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.app import build_app
from bot.chat import Actor, Invocation, Message, MessageRef, Place
from bot.settings import Settings
from generation.engine.result import GenerationResult, Timings
from generation.params import GenerationParams

NO_TIME = Timings(0.0, 0.0, 0.0)


class NoopEngine:
    """Returns the same 8 small frames at once: what is left is the bot's own overhead."""

    active_model = "noop"
    is_tiny = True
    label = "no-op generator"

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.frames = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(8)]

    def load(self) -> None: ...
    def close(self) -> None: ...
    def switch_model(self, name: str) -> str:
        return name

    def generate(
        self, params: GenerationParams, *, progress: Any = None, should_cancel: Any = None
    ) -> GenerationResult:
        for step in range(1, params.steps + 1):
            if progress:
                progress(step, params.steps)
        return GenerationResult(
            self.frames, params.seed or 0, "noop", params.steps, params.motions, 64, 64, params.fps, NO_TIME, tiny=True
        )


class NullAdapter:
    platform = "bench"
    max_upload_bytes = 10 * 1024 * 1024
    supports_remix = False

    def __init__(self) -> None:
        self.n = 0

    def _ref(self, place: Place) -> MessageRef:
        self.n += 1
        return MessageRef(place, str(self.n))

    async def post(self, place: Place, message: Message) -> MessageRef:
        return self._ref(place)

    async def edit(self, ref: MessageRef, message: Message) -> None: ...
    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        return ref.place.in_thread(ref.message_id)

    async def post_clip(self, place: Place, message: Message, clip: Any) -> MessageRef:
        return self._ref(place)

    async def delete(self, ref: MessageRef) -> None: ...
    async def notify(self, place: Place, user_id: str, message: Message) -> None: ...
    def link(self, ref: MessageRef) -> str | None:
        return None


@dataclass
class Responder:
    adapter: NullAdapter
    place: Place
    refused: int = 0

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        if ephemeral:
            self.refused += 1
            return None
        return await self.adapter.post(self.place, message)


async def bench(jobs: int, users: int, workdir: Path) -> None:
    settings = Settings(
        ANIMATEBOT_DATABASE_URL=f"sqlite:///{workdir}/bench.db",
        ANIMATEBOT_MEDIA_DIR=workdir / "clips",
        ANIMATEBOT_MAX_ACTIVE_PER_USER=1000,
        ANIMATEBOT_MAX_PER_HOUR=1000,
        ANIMATEBOT_QUEUE_CAP=100_000,
    )  # type: ignore[call-arg]
    app = build_app(settings, engine=NoopEngine())
    adapter = NullAdapter()
    app.service.add_adapter(adapter)  # type: ignore[arg-type]
    await app.start()
    place = Place("bench", "channel")
    latencies = []
    started = time.perf_counter()
    for i in range(jobs):
        responder = Responder(adapter, place)
        inv = Invocation(Actor("bench", f"user{i % users}", f"user{i % users}"), place, responder)
        t0 = time.perf_counter()
        await app.service.handle_command(inv, "animate", f"clip number {i} steps:4 frames:8")
        latencies.append(time.perf_counter() - t0)
        assert responder.refused == 0, "a submission was refused: raise the limits"
    accepted = time.perf_counter()
    await app.service.wait_idle()
    done = time.perf_counter()
    await app.stop()
    succeeded = app.repo.count_status("succeeded")
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"jobs {jobs}, users {users}, succeeded {succeeded}")
    print(
        f"accept: {jobs / (accepted - started):8.1f} jobs/s   median {statistics.median(latencies) * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms"
    )
    print(
        f"end to end (accept -> dispatch -> encode -> complete -> deliver): {jobs / (done - started):8.1f} jobs/s over {done - started:.2f} s"
    )
    if succeeded != jobs:
        raise SystemExit(f"only {succeeded} of {jobs} jobs succeeded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(args.jobs, args.users, Path(tmp)))


if __name__ == "__main__":
    main()
