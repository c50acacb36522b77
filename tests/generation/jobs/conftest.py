"""Fixtures for the job tests: a repository on a fresh database (SQLite, then PostgreSQL), and one local
Ray instance for the whole session (loopback only, token authentication on) with pools of real actors.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from generation.jobs.events import EventKind, JobEvent
from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.db import Database
from storage.repository import Repository
from tests.harness import REPO

_namespaces = itertools.count()


@pytest.fixture
def repo(database_url: str) -> Iterator[Repository]:
    db = Database(database_url)
    yield Repository(db)
    db.close()


@dataclass(frozen=True)
class RayCluster:
    gcs_address: str
    token: str


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One Ray instance on 127.0.0.1 for the session; this test process is its driver."""
    pytest.importorskip("ray", reason="the cluster extra is not installed (pip install -e '.[cluster]')")
    token = secrets.token_hex(32)
    env = {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # every address on the loopback interface
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ray's workers inherit this from the raylet: actors of any driver (a bot process started by a test too,
        # whose folder is a temp dir) can import tests.fakes. Without it they fail in __init__ outside the repo.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    imported_before = "ray" in sys.modules
    import ray

    from generation.jobs.ray import keep_on_loopback, reload_auth_settings

    keep_on_loopback()  # also where Ray read its loopback switch before the environment above was set
    if imported_before:  # Ray read its auth settings at that import, before the environment above was set
        reload_auth_settings()

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        logging_level="WARNING",
    )
    try:
        yield RayCluster(ray.get_runtime_context().gcs_address, token)
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Events:
    """Every JobEvent a pool reported, in order."""

    seen: list[JobEvent] = field(default_factory=list)

    async def __call__(self, event: JobEvent) -> None:
        self.seen.append(event)

    def of(self, kind: EventKind, job_id: int | None = None) -> list[JobEvent]:
        return [e for e in self.seen if e.kind == kind and (job_id is None or e.job_id == job_id)]

    def of_job(self, job_id: int) -> list[JobEvent]:
        return [e for e in self.seen if e.job_id == job_id]


async def until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Wait for ``predicate`` (checked often); a generous limit turns a hang into a failure, never a race."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def submit(queue: JobQueue, user: str, prompt: str = "a cat", **params: Any) -> int:
    sub = Submission(GenerationParams(prompt=prompt, steps=2, frames=8, **params), f"console:{user}", user, "console")
    return queue.accept(sub).job.id


PoolFactory = Callable[..., Awaitable[Any]]
ACTORS = 2


def _spec(gated: bool) -> Any:
    from generation.jobs.ray import EngineSpec

    return EngineSpec("tests.fakes.engine:FakeEngine", {"gated": gated}, is_tiny=True)


@pytest.fixture(scope="session")
def ray_actors(ray_cluster: RayCluster) -> Iterator[dict[bool, str]]:
    """Two sets of two warm actors for the session (gated FakeEngines, instant ones): namespace by ``gated``.

    Every test's pool attaches to them as a restarted bot would; creating actors is what costs time here.
    """
    import ray

    from generation.jobs.ray import RayOptions, ensure_actors

    namespaces = {gated: f"t{os.getpid()}-{'gated' if gated else 'instant'}" for gated in (True, False)}
    handles = []
    for gated, namespace in namespaces.items():
        options = RayOptions(workers=ACTORS, gpus_per_worker=0, namespace=namespace)
        handles += list(ensure_actors(_spec(gated), options, ACTORS).values())
    ray.get([h.info.remote() for h in handles], timeout=300)
    yield namespaces
    for handle in handles:
        ray.kill(handle, no_restart=True)


@pytest.fixture
async def make_pool(ray_actors: dict[bool, str], tmp_path: Path) -> AsyncIterator[PoolFactory]:
    """``await make_pool(gated=False)``: a started RayPool on the session's warm actors, with a fresh database."""
    from generation.jobs.ray import RayOptions, RayPool

    pools: list[RayPool] = []
    db = Database(f"sqlite:///{tmp_path}/pool.db")
    repo = Repository(db)
    queue = JobQueue(repo, Limits(max_active_per_user=20, max_per_hour=200, queue_cap=200), max_attempts=3)

    async def factory(*, gated: bool = False, events: Events | None = None, **more: Any) -> RayPool:
        options = RayOptions(workers=ACTORS, gpus_per_worker=0, namespace=ray_actors[gated])
        clips = tmp_path / "clips"
        pool = RayPool(queue, _spec(gated), options, media_dir=clips, on_event=events or Events(), **more)
        pools.append(pool)
        await pool.start()
        return pool

    factory.queue = queue  # type: ignore[attr-defined]
    yield factory
    for pool in pools:
        await pool.stop(grace_s=30)
    db.close()


async def drive(pool: Any, events: Events, done: Callable[[], bool], timeout: float = 120.0) -> None:
    """Let gated actors take exactly the steps they wait at, until ``done()``: never a spare permit left behind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        if loop.time() > deadline:
            raise AssertionError("timed out driving the gated actors")
        for slot in list(pool.slots.values()):
            job_id = slot.state.job_id
            if job_id is None or not slot.state.alive:
                continue
            try:
                if not await slot.handle.engine_call.remote("wait_for_step", 0.05):
                    continue
                steps = len(events.of(EventKind.PROGRESS, job_id))
                await slot.handle.engine_call.remote("release", 1)
            except Exception:  # lost or restarting: the pool notices on its own
                continue
            # The step is taken once its progress arrives (or the job left this actor).
            await until(_step_taken(events, slot, job_id, steps), what=f"step of job {job_id}")
        await asyncio.sleep(0.01)


def _step_taken(events: Events, slot: Any, job_id: int, steps: int) -> Callable[[], bool]:
    def taken() -> bool:
        moved_on = slot.state.job_id != job_id or not slot.state.alive
        return moved_on or len(events.of(EventKind.PROGRESS, job_id)) > steps

    return taken
