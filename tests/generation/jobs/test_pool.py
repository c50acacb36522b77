"""The Ray pool on a real local Ray instance: fair dispatch across actors, routing, progress, cancel, lost actors.

The actors are the session's (see conftest); each test's pool attaches to them with a fresh database.
Gated engines take a denoising step only when the test lets them (``drive``): nothing depends on speed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from bot.service.replies import worker_line
from generation.jobs.events import EventKind
from generation.jobs.ray import RayPool
from storage.models import JobStatus
from tests.generation.jobs.conftest import Events, PoolFactory, drive, submit, until

pytestmark = pytest.mark.timeout(300)


def _slot_running(pool: RayPool, job_id: int) -> Any:
    return next(slot for slot in pool.slots.values() if slot.state.job_id == job_id)


async def test_user_b_is_among_the_first_two_started_across_two_actors(make_pool: PoolFactory) -> None:
    queue = make_pool.queue  # type: ignore[attr-defined]
    alice = [submit(queue, "alice", f"a{i}") for i in range(5)]
    bob = submit(queue, "bob", "b0")
    events = Events()
    pool = await make_pool(gated=True, events=events)
    await until(lambda: len(events.of(EventKind.STARTED)) == 2, what="two jobs started")
    first_two = {e.job_id for e in events.of(EventKind.STARTED)}
    assert bob in first_two and first_two & set(alice)
    await drive(pool, events, lambda: len(events.of(EventKind.SUCCEEDED)) == 6)
    rows = [queue.repo.job(job_id) for job_id in [*alice, bob]]
    assert {row.status for row in rows} == {"succeeded"}
    assert {row.worker for row in rows} == set(pool.slots)  # both actors made clips
    assert all(os.path.getsize(row.output_path) > 0 for row in rows)
    assert [e.step for e in events.of(EventKind.PROGRESS, bob)] == [1, 2]


async def test_a_job_goes_to_the_actor_with_its_model_loaded(make_pool: PoolFactory) -> None:
    queue = make_pool.queue  # type: ignore[attr-defined]
    events = Events()
    pool = await make_pool(events=events)

    async def run(**params: Any) -> str:
        job_id = submit(queue, "alice", **params)
        await until(lambda: bool(events.of(EventKind.SUCCEEDED, job_id)), what=f"job {job_id}")
        await until(lambda: not pool.busy, what="idle")
        return str(queue.repo.job(job_id).worker)

    unique = f"{os.getpid()}-{id(pool)}"
    warm = await run(model=f"model-x-{unique}")  # one actor loads model-x; the other has never had it
    assert pool.slots[warm].state.model == f"model-x-{unique}"
    # The other actor has idled longer, yet the job goes where its model is already loaded.
    assert await run(model=f"model-x-{unique}") == warm
    cold = await run(model=f"model-y-{unique}")  # nobody has model-y: the one idle longest
    assert cold != warm
    assert await run(model=f"model-y-{unique}") == cold
    assert await run(model=f"model-x-{unique}") == warm


async def test_progress_then_cancel_mid_run(make_pool: PoolFactory) -> None:
    queue = make_pool.queue  # type: ignore[attr-defined]
    events = Events()
    pool = await make_pool(gated=True, events=events)
    job_id = submit(queue, "alice")
    await until(lambda: bool(events.of(EventKind.STARTED, job_id)), what="start")
    await drive(pool, events, lambda: bool(events.of(EventKind.PROGRESS, job_id)))
    assert [(e.step, e.total) for e in events.of(EventKind.PROGRESS, job_id)] == [(1, 2)]
    assert queue.progress[job_id] == 1

    assert str(await pool.cancel(job_id)) == "stopping"
    await drive(pool, events, lambda: bool(events.of(EventKind.CANCELLED, job_id)))
    assert queue.repo.job(job_id).status == JobStatus.CANCELLED
    assert not events.of(EventKind.SUCCEEDED, job_id) and not events.of(EventKind.PROGRESS, job_id)[1:]
    await until(lambda: not pool.busy, what="actor idle again")


async def test_an_actor_killed_mid_job_loses_nothing_and_runs_it_once(make_pool: PoolFactory) -> None:
    queue = make_pool.queue  # type: ignore[attr-defined]
    events = Events()
    pool = await make_pool(gated=True, events=events)
    job_id = submit(queue, "alice")
    await until(lambda: bool(events.of(EventKind.STARTED, job_id)), what="start")
    victim = _slot_running(pool, job_id)
    assert await victim.handle.engine_call.remote("wait_for_step", 30)
    os.kill(victim.state.pid, signal.SIGKILL)

    await until(lambda: queue.repo.job(job_id).attempts == 2, what="second attempt")
    await drive(pool, events, lambda: bool(events.of(EventKind.SUCCEEDED, job_id)))
    row = queue.repo.job(job_id)
    assert (row.status, row.attempts) == ("succeeded", 2)
    assert len(events.of(EventKind.SUCCEEDED, job_id)) == 1 and not events.of(EventKind.FAILED, job_id)
    assert "lost" in (victim.state.last_error or "")
    await until(lambda: victim.state.alive, timeout=120, what="actor restarted by Ray")
    assert victim.state.pid is not None


async def test_a_restarted_bot_reattaches_warm_actors(make_pool: PoolFactory) -> None:
    queue = make_pool.queue  # type: ignore[attr-defined]
    events = Events()
    first = await make_pool(events=events)
    job_id = submit(queue, "alice")
    await until(lambda: bool(events.of(EventKind.SUCCEEDED, job_id)), what="first clip")
    pids = {name: slot.state.pid for name, slot in first.slots.items()}
    await first.stop()

    second = await make_pool(events=events)  # a new bot: attaches by name
    assert {name: slot.state.pid for name, slot in second.slots.items()} == pids  # the same processes
    assert [slot.state.loads for slot in second.slots.values()] == [1, 1]  # no model loaded again
    job_id = submit(queue, "bob")
    await until(lambda: bool(events.of(EventKind.SUCCEEDED, job_id)), what="clip after the restart")


async def test_workers_that_cannot_start_are_a_clear_error_at_start(ray_cluster: Any, tmp_path: Any) -> None:
    """An engine that fails to build on every actor stops the start with its reason, not a queue that never moves."""
    import ray

    from generation.jobs.queue import JobQueue
    from generation.jobs.ratelimit import Limits
    from generation.jobs.ray import EngineSpec, RayOptions, WorkersUnavailable
    from storage.db import Database
    from storage.repository import Repository

    spec = EngineSpec("json:no_such_engine", {}, is_tiny=True)  # fails at once, without importing torch
    options = RayOptions(workers=1, gpus_per_worker=0, namespace=f"t{os.getpid()}-broken")
    db = Database(f"sqlite:///{tmp_path}/broken.db")
    pool = RayPool(JobQueue(Repository(db), Limits()), spec, options, media_dir=tmp_path / "clips", on_event=Events())
    try:
        with pytest.raises(WorkersUnavailable) as refused:
            await pool.start()
        assert (
            "no Ray worker could start; animatebot-worker-0: AttributeError: module 'json' has no attribute 'no_such_engine'"
            in str(refused.value)
        )
    finally:
        for slot in pool.slots.values():
            ray.kill(slot.handle, no_restart=True)
        db.close()


@pytest.mark.parametrize("fails_on", [1, 2], ids=["dispatcher", "job-task"])
async def test_a_pool_task_that_dies_is_logged_its_job_requeued_and_run_again(
    make_pool: PoolFactory, caplog: pytest.LogCaptureFixture, fails_on: int
) -> None:
    """The admin's model setting fails once while it is read: by the dispatcher placing the job (its first
    read), or by the job's own task (the second). The task reading it dies there."""
    queue = make_pool.queue  # type: ignore[attr-defined]
    events = Events()
    reads = [0]

    def active_model() -> str | None:
        reads[0] += 1
        if reads[0] == fails_on:
            raise RuntimeError("the model setting could not be read")
        return None

    pool = await make_pool(events=events, active_model=active_model)
    job_id = await queue.repo.db.offload(submit, queue, "alice")
    await until(lambda: bool(events.of(EventKind.SUCCEEDED, job_id)), what="the clip after the task's death")
    row = await queue.repo.db.offload(queue.repo.job, job_id)
    assert (row.status, row.attempts) == ("succeeded", 2)  # back in line with the attempt counted, then made
    assert len(events.of(EventKind.SUCCEEDED, job_id)) == 1 and not events.of(EventKind.FAILED, job_id)
    died = [r for r in caplog.records if r.exc_info and "could not be read" in str(r.exc_info[1])]
    assert len(died) == 1  # logged once, with its traceback
    restarted = [state for state in await pool.workers() if state.restarts]
    assert restarted and all(state.restarts == 1 for state in restarted)
    assert "restarted 1 time" in worker_line(restarted[0])


async def test_an_actor_on_other_code_or_settings_is_replaced_and_a_matching_one_kept(
    ray_cluster: Any, tmp_path: Any
) -> None:
    import ray

    from generation.jobs.queue import JobQueue
    from generation.jobs.ratelimit import Limits
    from generation.jobs.ray import EngineSpec, RayOptions, code_version
    from storage.db import Database
    from storage.repository import Repository

    options = RayOptions(workers=1, gpus_per_worker=0, namespace=f"t{os.getpid()}-versions")
    db = Database(f"sqlite:///{tmp_path}/versions.db")
    queue = await asyncio.to_thread(JobQueue, Repository(db), Limits())
    pools: list[RayPool] = []

    async def start(spec: EngineSpec, version: str | None = None) -> tuple[int | None, str | None]:
        pool = RayPool(queue, spec, options, media_dir=tmp_path / "clips", on_event=Events(), version=version)
        pools.append(pool)
        await pool.start()
        [state] = await pool.workers()
        await pool.stop()
        return state.pid, state.version

    old = EngineSpec("tests.fakes.engine:FakeEngine", {}, is_tiny=True)
    new = EngineSpec("tests.fakes.engine:FakeEngine", {"size": 32}, is_tiny=True)
    try:
        first, version = await start(old)
        assert version == code_version()
        assert (await start(old))[0] == first  # same code, same settings: attached warm
        on_new_code = (await start(old, version="a newer build"))[0]  # the bot runs other code
        assert on_new_code not in (None, first)
        new_settings = (await start(new))[0]  # other engine settings
        assert new_settings not in (None, first, on_new_code)
        assert (await start(new))[0] == new_settings
    finally:
        for slot in pools[-1].slots.values():
            ray.kill(slot.handle, no_restart=True)
        db.close()
