"""Pool scaling: the Ray pool with N = 1, 2, 4 actors and the local worker, on an engine that sleeps a
fixed time per job (no compute), through the real queue and SQLite, with many users.

    python benchmarks/bench_pool.py [--jobs 200] [--users 50] [--seconds 0.5] [--actors 1,2,4]

A short run for CI prints the same table (N = 1 is needed for the efficiency column):

    python benchmarks/bench_pool.py --jobs 40 --seconds 0.5 --actors 1,4

Prints, per back end: wall time, throughput (jobs/s), scaling efficiency (throughput / (N x one
actor's)) and dispatch overhead per job (each actor's time not spent in the engine, per job:
claim, Ray round trips, encoding the small clip, writing the file, finishing the row).
Ray runs on this machine (127.0.0.1 only, token authentication on); actors have 0 GPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes.engine, run from anywhere

from generation.jobs.events import EventKind, JobEvent
from generation.jobs.local import Worker
from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.jobs.ray import EngineSpec, RayOptions, RayPool, connect
from generation.params import GenerationParams
from storage.db import Database
from storage.repository import Repository

OPTIONS = RayOptions(gpus_per_worker=0, namespace="animatebot-bench", init_kwargs={"num_cpus": 2})


@dataclass
class Result:
    backend: str
    workers: int
    jobs: int
    wall_s: float

    @property
    def throughput(self) -> float:
        return self.jobs / self.wall_s


class Finished:
    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.done = asyncio.Event()

    async def __call__(self, event: JobEvent) -> None:
        if event.kind.terminal:
            if event.kind != EventKind.SUCCEEDED:
                raise SystemExit(f"job #{event.job_id} ended {event.kind}: {event.message}")
            self.count += 1
            if self.count == self.total:
                self.done.set()


def _queue(folder: Path, jobs: int, users: int) -> JobQueue:
    repo = Repository(Database(f"sqlite:///{folder}/bench.db"))
    queue = JobQueue(repo, Limits(max_active_per_user=jobs, max_per_hour=jobs, queue_cap=jobs))
    for i in range(jobs):
        user = f"u{i % users}"
        queue.accept(Submission(GenerationParams(prompt=f"clip {i}", steps=4), f"console:{user}", user, "console"))
    queue.set_paused(True)  # nothing starts before the clock does
    return queue


async def run_ray(n: int, args: argparse.Namespace, folder: Path) -> Result:
    queue = _queue(folder, args.jobs, args.users)
    finished = Finished(args.jobs)
    spec = EngineSpec("tests.fakes.engine:FakeEngine", {"seconds_per_job": args.seconds}, is_tiny=True)
    options = dataclasses.replace(OPTIONS, workers=n)
    pool = RayPool(queue, spec, options, media_dir=folder / "clips", on_event=finished)
    await pool.start()  # the actors are warm before the clock starts (they stay up between runs)
    began = time.perf_counter()
    queue.set_paused(False)  # wakes the dispatcher
    await finished.done.wait()
    wall = time.perf_counter() - began
    await pool.stop()
    return Result("ray", n, args.jobs, wall)


async def run_local(args: argparse.Namespace, folder: Path) -> Result:
    from tests.fakes.engine import FakeEngine

    queue = _queue(folder, args.jobs, args.users)
    finished = Finished(args.jobs)
    worker = Worker(queue, FakeEngine(seconds_per_job=args.seconds), media_dir=folder / "clips", on_event=finished)
    await worker.start()
    began = time.perf_counter()
    queue.set_paused(False)
    await finished.done.wait()
    wall = time.perf_counter() - began
    await worker.stop()
    return Result("local", 1, args.jobs, wall)


async def main_async(args: argparse.Namespace) -> list[Result]:
    counts = sorted({int(n) for n in args.actors.split(",")}, reverse=True)
    results = []
    connect(OPTIONS)  # one Ray instance for every run (a pool that connects itself would shut it down)
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:  # largest first: the actors are made once, smaller pools attach to the first N
            folder = Path(tmp) / f"ray{n}"
            folder.mkdir()
            print(f"ray, {n} actor(s)...", file=sys.stderr, flush=True)
            results.append(await run_ray(n, args, folder))
        folder = Path(tmp) / "local"
        folder.mkdir()
        print("local worker...", file=sys.stderr, flush=True)
        results.append(await run_local(args, folder))
        _end_actors()
    return results


def _end_actors() -> None:
    import ray

    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == "animatebot-bench":
            ray.kill(ray.get_actor(entry["name"], namespace="animatebot-bench"))
    ray.shutdown()


def report(results: list[Result], args: argparse.Namespace) -> str:
    one = next((r for r in results if r.backend == "ray" and r.workers == 1), None)
    lines = [
        f"{args.jobs} jobs from {args.users} users, engine sleeps {args.seconds} s per job; "
        f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}",
        f"{'back end':<14}{'wall s':>9}{'jobs/s':>9}{'efficiency':>12}{'overhead/job':>14}",
    ]
    for r in results:
        label = f"ray N={r.workers}" if r.backend == "ray" else "local worker"
        eff = f"{r.throughput / (r.workers * one.throughput):.2f}" if one and r.backend == "ray" else "-"
        overhead_ms = (r.wall_s * r.workers - r.jobs * args.seconds) / r.jobs * 1000
        lines.append(f"{label:<14}{r.wall_s:>9.1f}{r.throughput:>9.2f}{eff:>12}{overhead_ms:>11.0f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=0.5, help="the engine's fixed time per job")
    parser.add_argument("--actors", default="1,2,4", help="pool sizes to measure, comma-separated")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))  # for the actors
    print(report(asyncio.run(main_async(args)), args))


if __name__ == "__main__":
    main()
