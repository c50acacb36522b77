"""Queue throughput: accept -> dispatch -> complete through the real service, queue, worker and
SQLite, with the no-op FakeEngine standing in for the GPU, and 100 simulated users.

    python benchmarks/bench_queue.py [--jobs 500] [--users 100] [--fill 10000] [--drain 2000]

Four parts, one bot on one fresh database (so the users of the later parts have asked before, as
in a bot that has been running a while):

1. end to end, one at a time: ``--jobs`` ``/animate`` commands typed one after another (each
   waits for the one before to be answered) while the worker runs; prints jobs per second end to
   end, the accept latency (median, p99: what a user waits for before "queued #id" can be sent)
   and the GPU idle gap between jobs started back to back. This figure is set by the accept's
   latency (one command in flight at any time), not by how many jobs the bot can carry.
1b. end to end, the users at once: ``--jobs`` more commands, each of the ``--users`` users typing
   theirs one after another and all users at the same time (``--at-once`` users in flight at most),
   as on a busy server; prints jobs per second end to end (the bot's throughput) and the accept
   latency under that burst (which includes the wait behind the other users' commands).
2. flat accept: the queue paused, ``--fill`` commands; prints the accept latency of the 100
   accepts that bring the queue to 100, 1,000 and 10,000 waiting jobs.
3. drain: the queue resumed with ``--fill`` jobs waiting; once ``--drain`` of them have been
   delivered (0: all), prints jobs per second and the GPU idle gap median with a queue of
   waiting jobs. The bot then stops; the rest stay queued.

Before them, part 0 writes 200 small files into the run's clips folder as the worker writes a clip and
prints the CPU time per file (kernel time included): on this project's test VM creating a file costs 0.03
to 1 ms depending on the folder (its place on the disk, not the bot), which moves the figures below by up
to ~1 ms of CPU per job from one run to the next.

The last line sums up the figures the issue asks for.

The engine returns ``--frames`` frames of ``--size`` pixels square and clips are ``--format``:
by default one 8x8 WebP frame, so that the figure is the bot's own work per job, not encoding
(``benchmarks/bench_encode.py`` measures that); the median encode time is printed beside it.
The NSFW check is off (it is a model, like the engine). The load average is printed too: other
processes sharing the CPUs slow every wall-clock figure here; the process's CPU time per job is
printed beside them, the figure the load does not inflate. ``--profile FILE`` writes the
event loop thread's cProfile statistics of the end-to-end run to FILE (read it with pstats).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script from a checkout (python benchmarks/bench_queue.py): the repository root, for tests.fakes.engine,
# which is not installed with the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App, build_app
from bot.chat import Actor, Invocation, Message, MessageRef, Place
from bot.settings import Settings
from generation.media.files import write_atomically
from tests.fakes.engine import FakeEngine


class NullAdapter:
    platform = "bench"
    max_upload_bytes = 10 * 1024 * 1024
    supports_remix = False

    def __init__(self) -> None:
        self.n = 0
        self.clips = 0

    def _ref(self, place: Place) -> MessageRef:
        self.n += 1
        return MessageRef(place, str(self.n))

    async def post(self, place: Place, message: Message) -> MessageRef:
        return self._ref(place)

    async def edit(self, ref: MessageRef, message: Message) -> None: ...
    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        return ref.place.in_thread(ref.message_id)

    async def post_clip(self, place: Place, message: Message, clip: Any) -> MessageRef:
        self.clips += 1
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


@dataclass(frozen=True)
class Options:
    jobs: int
    users: int
    fill: int
    size: int
    frames: int
    format: str
    drain: int = 2_000
    profile: str | None = None
    at_once: int = 100


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def p99_ms(values: list[float]) -> float:
    """The 99th percentile by nearest rank: the smallest value that at least 99% of ``values`` do not
    exceed (of 100 accepts, the second slowest; ``ms`` prints the slowest as max)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)] * 1000


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:6.2f} ms   p99 {p99_ms(values):6.2f} ms   "
        f"max {max(values) * 1000:6.2f} ms"
    )


def cpu_ms(cpu_s: float, jobs: int) -> str:
    return f"{cpu_s / max(1, jobs) * 1000:.2f} ms CPU per job (all threads)"


def file_creation_ms(folder: Path, count: int = 200) -> float:
    """CPU time (this thread's, kernel time included) to write one new small clip file into ``folder`` as
    the worker does: a baseline for the encode thread's figure. On this project's test VM it differs from
    one new folder to another (0.03-1 ms per file, see docs/PERFORMANCE.md), whatever the bot does."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [folder / f"probe-{i:04d}.webp" for i in range(count)]
    started = time.thread_time()
    for name in names:
        write_atomically(name, b"RIFF" + bytes(300))
    took = time.thread_time() - started
    for name in names:
        name.unlink()
    return took / count * 1000


def gap(app: App) -> str:
    median = app.worker.idle_gaps.median_ms()
    count = len(app.worker.idle_gaps.values)
    return "no job started back to back" if median is None else f"{median:.3f} ms (over {count} jobs)"


async def start(opts: Options, workdir: Path) -> tuple[App, NullAdapter]:
    settings = Settings(
        ANIMATEBOT_DATABASE_URL=f"sqlite:///{workdir}/bench.db",
        ANIMATEBOT_MEDIA_DIR=workdir / "clips",
        ANIMATEBOT_MAX_ACTIVE_PER_USER=1_000_000,
        ANIMATEBOT_MAX_PER_HOUR=1_000_000,
        ANIMATEBOT_QUEUE_CAP=1_000_000,
        ANIMATEBOT_SAFETY=False,
    )  # type: ignore[call-arg]
    app = build_app(settings, engine=FakeEngine(size=opts.size, frames=opts.frames))
    adapter = NullAdapter()
    app.service.add_adapter(adapter)  # type: ignore[arg-type]
    await app.start()
    return app, adapter


async def submit(app: App, adapter: NullAdapter, opts: Options, i: int) -> float:
    place = Place("bench", "channel")
    responder = Responder(adapter, place)
    user = f"user{i % opts.users}"
    inv = Invocation(Actor("bench", user, user), place, responder)
    t0 = time.perf_counter()
    await app.service.handle_command(inv, "animate", f"clip number {i} steps:4 frames:8 format:{opts.format}")
    took = time.perf_counter() - t0
    assert responder.refused == 0, "a submission was refused: raise the limits"
    return took


def encode_median_ms(app: App) -> float:
    times = [job.encode_s for job in app.repo.history(limit=200) if job.encode_s is not None]
    return statistics.median(times) * 1000 if times else float("nan")


@dataclass
class Summary:
    jobs_per_s: float = 0.0
    at_once_per_s: float = 0.0
    accept_p99_ms: dict[int, float] = field(default_factory=dict)
    gap_ms: float | None = None
    cpu_ms_per_job: float = 0.0
    file_ms: float = 0.0


async def end_to_end(app: App, adapter: NullAdapter, opts: Options, summary: Summary) -> None:
    latencies = []
    profile = cProfile.Profile() if opts.profile else None
    if profile is not None:
        profile.enable()
    cpu = time.process_time()
    started = time.perf_counter()
    for i in range(opts.jobs):
        latencies.append(await submit(app, adapter, opts, i))
    accepted = time.perf_counter()
    await app.service.wait_idle()
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    if profile is not None:
        profile.disable()
        profile.dump_stats(opts.profile)
    succeeded = await app.db.offload(app.repo.count_status, "succeeded")
    encode = await app.db.offload(encode_median_ms, app)
    print(f"1. end to end: jobs {opts.jobs}, users {opts.users}, succeeded {succeeded}; {load()}")
    print(f"   accept: {opts.jobs / (accepted - started):8.1f} jobs/s   {ms(latencies)}")
    print(
        f"   end to end (accept -> dispatch -> encode -> complete -> deliver): "
        f"{opts.jobs / (done - started):8.1f} jobs/s over {done - started:.2f} s; {cpu_ms(cpu, opts.jobs)}"
    )
    print(f"   GPU idle gap median {gap(app)}; encode median {encode:.2f} ms per clip")
    if succeeded != opts.jobs:
        raise SystemExit(f"only {succeeded} of {opts.jobs} jobs succeeded")
    summary.jobs_per_s, summary.cpu_ms_per_job = opts.jobs / (done - started), cpu / opts.jobs * 1000


async def users_at_once(app: App, adapter: NullAdapter, opts: Options, summary: Summary) -> None:
    """Part 1b: every user types their commands one after another, all users at the same time."""
    latencies: list[float] = []
    first = opts.jobs + opts.fill  # numbers no other part uses
    users = min(opts.users, opts.at_once)
    per_user = [list(range(first + u, first + opts.jobs, users)) for u in range(users)]

    async def user(numbers: list[int]) -> None:
        for i in numbers:
            latencies.append(await submit(app, adapter, opts, i))

    delivered = adapter.clips
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(user(numbers) for numbers in per_user))
    accepted = time.perf_counter()
    await app.service.wait_idle()
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    count = adapter.clips - delivered
    print(f"1b. end to end, {users} users at once: jobs {opts.jobs}, delivered {count}; {load()}")
    print(
        f"   accept: {opts.jobs / (accepted - started):8.1f} jobs/s   {ms(latencies)} (in a burst of {users} at once)"
    )
    print(
        f"   end to end (accept -> dispatch -> encode -> complete -> deliver): "
        f"{opts.jobs / (done - started):8.1f} jobs/s over {done - started:.2f} s; {cpu_ms(cpu, opts.jobs)}"
    )
    if count != opts.jobs:
        raise SystemExit(f"only {count} of {opts.jobs} jobs were delivered")
    summary.at_once_per_s = opts.jobs / (done - started)


async def flat_accept(app: App, adapter: NullAdapter, opts: Options, summary: Summary) -> None:
    app.queue.set_paused(True)
    cpu = time.process_time()
    latencies = [await submit(app, adapter, opts, opts.jobs + i) for i in range(opts.fill)]
    accept_cpu = time.process_time() - cpu
    print(f"2. accept with the queue paused, filling it to {opts.fill} waiting jobs; {load()}")
    for size in (100, 1_000, 10_000):
        if size <= opts.fill:
            window = latencies[max(0, size - 100) : size]
            print(f"   accept at {size:>6,} queued: {ms(window)}")
            summary.accept_p99_ms[size] = p99_ms(window)
    print(f"   accept alone: {cpu_ms(accept_cpu, opts.fill)}")


async def drain(app: App, adapter: NullAdapter, opts: Options, summary: Summary) -> None:
    wanted = opts.fill if opts.drain <= 0 else min(opts.drain, opts.fill)
    app.worker.idle_gaps.values.clear()
    delivered = adapter.clips
    cpu = time.process_time()
    started = time.perf_counter()
    app.queue.set_paused(False)
    while adapter.clips - delivered < wanted:
        await asyncio.sleep(0.01)
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    count = adapter.clips - delivered
    print(
        f"3. drain: {count} of {opts.fill} waiting jobs delivered at {count / (done - started):8.1f} jobs/s "
        f"over {done - started:.2f} s; {load()}"
    )
    print(f"   drain (claim -> generate -> encode -> finish -> deliver): {cpu_ms(cpu, count)}")
    print(f"   GPU idle gap median {gap(app)}")
    summary.gap_ms = app.worker.idle_gaps.median_ms()


async def bench(opts: Options, workdir: Path) -> None:
    app, adapter = await start(opts, workdir)
    summary = Summary()
    summary.file_ms = file_creation_ms(workdir / "clips")
    print(
        f"0. writing a new clip file in this run's clips folder: {summary.file_ms:.3f} ms CPU per file "
        "(the encode thread pays it once per job)"
    )
    try:
        await end_to_end(app, adapter, opts, summary)
        await users_at_once(app, adapter, opts, summary)
        if opts.fill:
            await flat_accept(app, adapter, opts, summary)
            await drain(app, adapter, opts, summary)
    finally:
        await app.stop(grace_s=5)
    p99 = ", ".join(f"{v:.1f}" for v in summary.accept_p99_ms.values())
    sizes = ", ".join(f"{k:,}" for k in summary.accept_p99_ms)
    gap_ms = "n/a" if summary.gap_ms is None else f"{summary.gap_ms:.2f} ms"
    print(
        f"summary: end to end {summary.at_once_per_s:.1f} jobs/s with {min(opts.users, opts.at_once)} users at once, "
        f"{summary.jobs_per_s:.1f} jobs/s one at a time ({summary.cpu_ms_per_job:.2f} ms CPU per job); "
        f"accept p99 {p99} ms at {sizes} queued; GPU idle gap median {gap_ms}; "
        f"a new clip file {summary.file_ms:.3f} ms CPU; {load()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--fill", type=int, default=10_000, help="jobs queued while paused (0: skip parts 2 and 3)")
    parser.add_argument("--drain", type=int, default=2_000, help="jobs of the filled queue to deliver (0: all)")
    parser.add_argument("--size", type=int, default=8, help="side of the fake engine's frames, in pixels")
    parser.add_argument("--frames", type=int, default=1, help="frames the fake engine returns")
    parser.add_argument("--format", default="webp", choices=("gif", "webp", "mp4"))
    parser.add_argument("--at-once", type=int, default=100, help="part 1b: users typing at the same time, at most")
    parser.add_argument("--profile", help="write the end-to-end run's cProfile statistics (event loop thread) here")
    args = parser.parse_args()
    opts = Options(
        args.jobs, args.users, args.fill, args.size, args.frames, args.format, args.drain, args.profile, args.at_once
    )
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(opts, Path(tmp)))


if __name__ == "__main__":
    main()
