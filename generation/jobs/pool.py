"""A pool of warm Ray actors behind the same fair queue, with the local ``Worker``'s face.

The dispatcher claims a job from the queue only when an actor is idle, so nothing waits inside Ray
and the queue's fairness, positions and ETAs stay exact. The job goes to an idle actor that already
has the job's base model loaded, else to the one idle longest. The actor streams progress, encodes
on its own host and returns the clip bytes; the bot writes the file atomically and finishes the row,
passing the attempt number so a late answer from an attempt presumed dead changes nothing.

Actors are named and detached: they outlive the bot and are re-attached warm at the next start.
Ray restarts an actor that dies; its job goes back in line with the attempt counted.

The Ray head is watched (a TCP probe of its GCS port every second). When it is lost the pool stops
dispatching, puts the jobs in flight back in line (attempt counted), leaves Ray (``ray.shutdown``,
before Ray's own reconnect timeout would end the process) and connects again with backoff; the
queue keeps accepting meanwhile, and the actors are attached (or made again) once the head is back.

Ray is imported when the pool starts, never at import: ``generation.jobs`` stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from generation.jobs.actor import ACTOR_PREFIX, ClipReply, EngineActor, EngineSpec, RunRequest
from generation.jobs.events import EventKind, EventSink, JobEvent
from generation.jobs.queue import JobQueue
from generation.jobs.worker import SafetyCheck, clip_filename
from generation.media import read_clip
from generation.media.files import write_atomically
from generation.params import GenerationParams
from storage.models import Job, JobStatus

log = logging.getLogger("animatebot.pool")

ACTOR_CONCURRENCY = 4  # run + info + cancel + engine controls at once; the lock inside keeps one job at a time
RECONNECT_MAX_S = 30.0  # the longest wait between two tries to reach the Ray head again
HEAD_CHECK_S = 1.0  # how often the head's GCS port is probed
HEAD_PROBE_TIMEOUT_S = 2.0
HEAD_LOST_AFTER = 2  # probes failed in a row before the head counts as lost (one may be a hiccup)
REVIVE_POLL_MAX_S = 1.0  # a restarting actor is asked this often at least (a tiny call; the reload takes longer)


class WorkersUnavailable(Exception):
    """The Ray cluster cannot be reached or has no room for the workers; ``str(e)`` says which and why."""


@dataclass(frozen=True)
class RayOptions:
    """Where the cluster is and how many actors to keep (from settings; plain values)."""

    address: str | None = None  # None: start Ray on this machine, on 127.0.0.1 only
    workers: int | None = None  # None: one per GPU in the cluster
    gpus_per_worker: float = 1.0
    token: str | None = field(default=None, repr=False)  # the cluster's auth token; never in a repr
    namespace: str = "animatebot"
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # extra ray.init arguments for a local start


@dataclass
class WorkerState:
    """One actor as the dispatcher and the admins see it."""

    name: str
    host: str = "?"
    gpus: tuple[str, ...] = ()
    model: str | None = None
    job_id: int | None = None
    jobs_done: int = 0
    last_error: str | None = None
    loads: int = 0
    pid: int | None = None
    alive: bool = False
    idle_since: float | None = None  # monotonic; None while busy, dead or reserved

    @property
    def busy(self) -> bool:
        return self.job_id is not None


@dataclass
class _Slot:
    state: WorkerState
    handle: Any = None
    reviving: bool = False


class RayPool:
    """Runs queued jobs on Ray actors; the same face as ``Worker`` (start, stop, busy, wait_idle, validate_model)."""

    def __init__(
        self,
        queue: JobQueue,
        spec: EngineSpec,
        options: RayOptions,
        *,
        media_dir: Path,
        on_event: EventSink,
        job_timeout_s: float = 600.0,
        active_model: Any = lambda: None,
        safety: SafetyCheck | None = None,
    ) -> None:
        self.safety = safety  # the NSFW check, on this host, on the clip the actor sent back
        self.queue = queue
        self.spec = spec
        self.options = options
        self.media_dir = Path(media_dir)
        self.on_event = on_event
        self.job_timeout_s = job_timeout_s
        self.active_model = active_model
        self.engine = SimpleNamespace(is_tiny=spec.is_tiny)  # what the service reads from a worker's engine
        self.slots: dict[str, _Slot] = {}
        self._ray: Any = None
        self._owns_ray = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._shutdown_cancel = False
        self._task: asyncio.Task[None] | None = None
        self._jobs: dict[int, asyncio.Task[None]] = {}
        self._cancel_sent: set[int] = set()
        self._side_tasks: set[asyncio.Future[Any]] = set()
        self._gcs_address: str | None = None  # host:port of the head this driver is connected to
        self._head_lost = False  # True from losing the head until connected again: no Ray calls meanwhile
        self._lost = asyncio.Event()  # set when the head is lost; a fresh one per connection
        self._watch_task: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.loaded = False

    # --- connecting -----------------------------------------------------------------------------------
    def _connect(self) -> None:
        self._ray, self._owns_ray = connect(self.options)
        self._gcs_address = self._ray.get_runtime_context().gcs_address

    def _actor_count(self) -> int:
        if self.options.workers is not None:
            return self.options.workers
        gpus = float(self._ray.cluster_resources().get("GPU", 0))
        per = self.options.gpus_per_worker
        if per <= 0:
            raise WorkersUnavailable("ANIMATEBOT_RAY_GPUS_PER_WORKER=0 needs ANIMATEBOT_RAY_WORKERS (how many actors)")
        count = int(gpus // per)
        if count < 1:
            raise WorkersUnavailable(
                f"the Ray cluster has {gpus:g} GPUs, fewer than ANIMATEBOT_RAY_GPUS_PER_WORKER={per:g}; "
                "for CPU workers set ANIMATEBOT_RAY_WORKERS and ANIMATEBOT_RAY_GPUS_PER_WORKER=0"
            )
        return count

    def _attach(self) -> None:
        """Create the named actors, or attach to those a previous bot left running (they stay warm)."""
        for name, handle in ensure_actors(self.spec, self.options, self._actor_count()).items():
            self.slots[name] = _Slot(WorkerState(name), handle)

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to Ray (or start it here), attach the actors and wait until each has its model loaded.

        Raises WorkersUnavailable, naming the address, when the cluster cannot be reached.
        """
        loop = asyncio.get_running_loop()
        self.queue.subscribe(lambda: self._wake_from_any_thread(loop))
        self.media_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._connect)
        await asyncio.to_thread(self._attach)
        await asyncio.gather(*(self._refresh(slot, orphan_ok=True) for slot in self.slots.values()))
        if self.slots and not any(slot.state.alive for slot in self.slots.values()):
            # Every actor failed to start (its engine could not load): say why now rather than queue for ever.
            first = next(iter(self.slots.values())).state
            raise WorkersUnavailable(f"no Ray worker could start; {first.name}: {first.last_error}")
        self.loaded = True
        self._task = asyncio.create_task(self._loop(), name="animatebot-pool")
        self._watch_task = asyncio.create_task(self._watch_head(), name="animatebot-pool-head")

    def _wake_from_any_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self, grace_s: float = 30.0) -> None:
        """Take no more jobs; running ones get ``grace_s`` to finish, then go back in line. Actors stay up."""
        self._stopping = True
        self._wake.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(BaseException):
                await self._watch_task
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        running = list(self._jobs.values())
        if running:
            _, pending = await asyncio.wait(running, timeout=grace_s)
            if pending:
                self._shutdown_cancel = True
                for job_id, slot in self._running_slots() if not self._head_lost else []:
                    with contextlib.suppress(Exception):
                        slot.handle.cancel.remote(job_id, "shutdown")
                await asyncio.wait(pending, timeout=60)
        if self._owns_ray and not self._head_lost:
            await asyncio.to_thread(self._ray.shutdown)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    async def wait_idle(self) -> None:
        """Return once nothing is queued or running."""
        while True:
            if not self.busy and not self.queue.active_jobs():
                return
            await asyncio.sleep(0.05)

    async def validate_model(self, name: str) -> str:
        """Load ``name`` on one idle actor (the others switch before their next job); raises its ModelLoadError."""
        while True:
            slot = self._pick_idle(name)
            if slot is not None:
                break
            if self._stopping:
                raise RuntimeError("the workers are stopping")
            await asyncio.sleep(0.1)
        slot.state.idle_since = None  # reserved: the dispatcher leaves it alone meanwhile
        try:
            loaded = await slot.handle.switch_model.remote(name)
            slot.state.model = loaded
            return str(loaded)
        finally:
            slot.state.idle_since = time.monotonic()
            self._wake.set()

    async def cancel(self, job_id: int) -> Any:
        """Cancel a job: a queued one never reaches Ray; a running one stops at its actor's next step."""
        outcome = self.queue.cancel(job_id)
        self._forward_cancels()
        return outcome

    def workers(self) -> list[WorkerState]:
        """Each actor as last seen (call ``refresh_workers`` first for fresh figures)."""
        return [slot.state for slot in self.slots.values()]

    async def refresh_workers(self) -> list[WorkerState]:
        if not self._head_lost:  # while the head is away each actor shows as down, with why
            await asyncio.gather(*(self._refresh(slot) for slot in self.slots.values() if not slot.reviving))
        return self.workers()

    @property
    def head_lost(self) -> bool:
        """True while the Ray head cannot be reached (jobs wait in the queue; the pool reconnects)."""
        return self._head_lost

    # --- the loop ------------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while not self._stopping:
            try:
                started = self._dispatch_one()
            except Exception:
                log.exception("could not read the queue; retrying")
                started = False
            self._forward_cancels()
            if started:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.5)

    def _dispatch_one(self) -> bool:
        if self._head_lost or not any(s.state.idle_since is not None for s in self.slots.values()):
            return False
        job = self.queue.next_job()
        if job is None:
            return False
        params = GenerationParams.from_dict(job.params)
        model = params.model or self.active_model()
        slot = self._pick_idle(model)
        if slot is None:  # cannot happen (checked above, same thread), but never lose a claimed job
            self.queue.requeue(job.id, count_attempt=False, attempt=job.attempts)
            return False
        slot.state.idle_since = None
        slot.state.job_id = job.id
        task = asyncio.create_task(self._run(slot, job), name=f"animatebot-job-{job.id}")
        self._jobs[job.id] = task
        task.add_done_callback(functools.partial(self._job_done, job.id))
        return True

    def _job_done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._jobs.pop(job_id, None)

    def _pick_idle(self, model: str | None) -> _Slot | None:
        idle = [s for s in self.slots.values() if s.state.idle_since is not None and s.state.alive]
        if not idle:
            return None
        warm = [s for s in idle if model is not None and s.state.model == model]
        return min(warm or idle, key=lambda s: s.state.idle_since or 0.0)

    def _running_slots(self) -> list[tuple[int, _Slot]]:
        return [(s.state.job_id, s) for s in self.slots.values() if s.state.job_id is not None]

    def _forward_cancels(self) -> None:
        if self._head_lost:
            return  # those jobs are back in line, or about to be: a queued job's cancel never needs Ray
        for job_id, slot in self._running_slots():
            if job_id not in self._cancel_sent and self.queue.cancel_requested(job_id):
                self._cancel_sent.add(job_id)
                slot.handle.cancel.remote(job_id, "cancel")

    # --- one job -------------------------------------------------------------------------------------------
    async def _run(self, slot: _Slot, job: Job) -> None:
        attempt = job.attempts
        outcome: tuple[Any, ...] | None = None
        try:
            outcome = await self._drive_unless_head_lost(slot, job)
        except Exception:
            log.exception("job #%s crashed the pool", job.id)
            outcome = ("failed", "an internal error stopped this job; it has been logged")
        finally:
            # The actor's part is over: it takes the next job while this one is written and finished.
            slot.state.job_id = None
            self._cancel_sent.discard(job.id)
            if outcome is None:
                slot.state.alive = False
                self._spawn(self._revive(slot))
            else:
                slot.state.idle_since = time.monotonic()
            self._wake.set()
        if outcome is None:
            if attempt >= self.queue.max_attempts:
                await self._fail(
                    job, f"the worker making this clip was lost {attempt} times; giving up on it", attempt=attempt
                )
            elif self.queue.requeue(job.id, count_attempt=True, attempt=attempt):
                log.warning("job #%s back in line: its worker %s was lost", job.id, slot.state.name)
            return
        try:
            await self._settle(slot, job, outcome)
        except Exception:
            log.exception("job #%s: could not store its outcome", job.id)
            await self._fail(job, "an internal error stopped this job; it has been logged")

    async def _settle(self, slot: _Slot, job: Job, outcome: tuple[Any, ...]) -> None:
        kind = outcome[0]
        if kind == "done":
            slot.state.model = outcome[1].model
            await self._succeeded(slot, job, outcome[1])
        elif kind == "cancelled":
            await self._cancelled(job, outcome[1])
        else:
            slot.state.last_error = outcome[1]
            await self._fail(job, outcome[1], attempt=job.attempts)

    async def _drive_unless_head_lost(self, slot: _Slot, job: Job) -> tuple[Any, ...] | None:
        """``_drive``, given up (None: back in line, attempt counted) as soon as the head is lost."""
        drive = asyncio.ensure_future(self._drive(slot, job))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({drive, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if drive.done():
            return drive.result()
        drive.cancel()  # its Ray calls end with the connection; nothing waits on them
        slot.state.last_error = f"the Ray head was lost while making job #{job.id}"
        return None

    async def _drive(self, slot: _Slot, job: Job) -> tuple[Any, ...] | None:
        """Run ``job`` on ``slot``'s actor, reporting progress; its terminal item, or None when the actor died."""
        ray = self._ray
        params = GenerationParams.from_dict(job.params)
        if params.seed is None:
            # Fix the seed before generating: a rerun after a lost worker then makes the same clip.
            params = params.with_changes(seed=job.seed if job.seed is not None else secrets.randbelow(2**32))
            self.queue.repo.update_job(job.id, seed=params.seed)
        if params.model is None:
            params = params.with_changes(model=self.active_model())
        await self._emit(JobEvent(EventKind.STARTED, job.id, 0, params.steps))
        request = RunRequest(job.id, job.attempts, params.to_dict(), job.max_bytes, self.job_timeout_s)
        try:
            stream = slot.handle.run.options(num_returns="streaming").remote(request)
            async for ref in stream:
                item = await ref
                if item[0] != "progress":
                    return tuple(item)  # terminal: no need to wait for the stream's end
                await self._emit(JobEvent(EventKind.PROGRESS, job.id, item[1], item[2]))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            slot.state.last_error = f"lost while making job #{job.id}: {type(exc).__name__}"
            log.warning("worker %s lost while making job #%s: %s", slot.state.name, job.id, type(exc).__name__)
            return None
        return ("failed", "the worker ended the job without a result")

    async def _succeeded(self, slot: _Slot, job: Job, reply: ClipReply) -> None:
        path = self.media_dir / clip_filename(job.id, job.prompt, reply.extension)
        await asyncio.to_thread(write_atomically, path, reply.data)
        score, flagged = await self._check_safety(job, path)
        self.queue.repo.update_job(
            job.id,
            seed=reply.seed,
            model_used=reply.model,
            steps_used=reply.steps,
            motions_used=reply.motions,
            load_s=reply.load_s,
            denoise_s=reply.denoise_s,
            decode_s=reply.decode_s,
            tiny=reply.tiny,
            progress_step=reply.steps,
            safety_score=score,
            safety_flagged=flagged,
        )
        self.queue.record_timing(
            reply.steps, reply.frames, reply.denoise_s, reply.load_s + reply.decode_s + reply.encode_s
        )
        finished = self.queue.finish(
            job.id,
            JobStatus.SUCCEEDED,
            attempt=job.attempts,
            output_path=str(path),
            output_format=reply.format,
            output_bytes=len(reply.data),
            encode_s=reply.encode_s,
            notes="\n".join((*reply.notes, *reply.changes)) or None,
            worker=slot.state.name,
        )
        if finished:
            slot.state.jobs_done += 1
            await self._emit(JobEvent(EventKind.SUCCEEDED, job.id, output_path=str(path)))
        else:  # cancelled or taken away meanwhile: the file is not wanted
            path.unlink(missing_ok=True)

    async def _check_safety(self, job: Job, path: Path) -> tuple[float | None, bool | None]:
        """The NSFW verdict on the clip's frames, read back from the file the actor sent; None when off.

        A check that fails counts as flagged: the channel's policy then withholds or hides the clip.
        """
        if self.safety is None:
            return None, None
        check = self.safety
        try:
            frames, _fps = await asyncio.to_thread(read_clip, path)
            return await asyncio.to_thread(check, frames)
        except Exception:
            log.exception("job #%s: the safety check failed; the clip counts as flagged", job.id)
            return None, True

    async def _cancelled(self, job: Job, reason: str) -> None:
        if reason == "timeout":
            await self._fail(job, f"took longer than the {self.job_timeout_s:.0f} s limit and was stopped")
        elif reason == "shutdown":
            self.queue.requeue(job.id, count_attempt=False, attempt=job.attempts)
            log.info("job #%s put back in line for the next start", job.id)
        elif self.queue.finish(job.id, JobStatus.CANCELLED, attempt=job.attempts):
            await self._emit(JobEvent(EventKind.CANCELLED, job.id, message="cancelled while generating"))

    async def _fail(self, job: Job, message: str, *, attempt: int | None = None) -> None:
        if self.queue.finish(
            job.id, JobStatus.FAILED, attempt=job.attempts if attempt is None else attempt, error=message
        ):
            await self._emit(JobEvent(EventKind.FAILED, job.id, message=message))

    async def _emit(self, event: JobEvent) -> None:
        if event.kind == EventKind.PROGRESS:
            self.queue.progress[event.job_id] = event.step  # memory only: no database write per step
        try:
            await self.on_event(event)
        except Exception:
            log.exception("event handler failed for %s", event)

    # --- actor health ------------------------------------------------------------------------------------
    async def _refresh(self, slot: _Slot, *, orphan_ok: bool = False) -> bool:
        """Read the actor's state; False when it does not answer. A job it runs for a previous bot is stopped."""
        try:
            info = await slot.handle.info.remote()
        except Exception as exc:
            slot.state.alive = False
            slot.state.last_error = _reason(exc)
            return False
        state = slot.state
        running_here, known_job = info["job_id"], state.job_id
        _apply_info(state, info)
        state.job_id = known_job  # ours to track: the actor may still be ending a job we gave up on
        if orphan_ok and running_here is not None:
            # Left running by a previous bot: that job was requeued at startup; stop this copy.
            log.info("worker %s was still making job #%s for a previous run; stopping it", state.name, running_here)
            await slot.handle.cancel.remote(running_here, "shutdown")
            self._spawn(self._revive(slot))
            return True
        if state.job_id is None and state.idle_since is None and not slot.reviving:
            state.idle_since = time.monotonic()
        return True

    async def _revive(self, slot: _Slot) -> None:
        """Wait until a lost (or still busy) actor answers and is idle again; Ray restarts it and it reloads."""
        slot.reviving = True
        slot.state.idle_since = None
        delay = 0.2
        try:
            while not self._stopping:
                try:
                    info = None if self._head_lost else await asyncio.wait_for(slot.handle.info.remote(), 30)
                except Exception:
                    info = None
                if info is not None and info["job_id"] is None:
                    slot.state.alive = True
                    slot.state.host, slot.state.pid = info["host"], info["pid"]
                    slot.state.model, slot.state.loads = info["model"], info["loads"]
                    slot.state.idle_since = time.monotonic()
                    log.info("worker %s is back (pid %s)", slot.state.name, info["pid"])
                    self._wake.set()
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, REVIVE_POLL_MAX_S)
        finally:
            slot.reviving = False

    # --- the head ----------------------------------------------------------------------------------------
    async def _watch_head(self) -> None:
        """Probe the head's GCS port every HEAD_CHECK_S; when it is lost, reconnect (see the module docstring)."""
        failures = 0
        while not self._stopping:
            await asyncio.sleep(HEAD_CHECK_S)
            address = self._gcs_address
            if address is None:
                continue
            try:
                await asyncio.to_thread(_probe, address, HEAD_PROBE_TIMEOUT_S)
            except WorkersUnavailable:
                failures += 1
            else:
                failures = 0
            if failures >= HEAD_LOST_AFTER and not self._stopping:
                await self._reconnect(address)
                failures = 0

    async def _reconnect(self, address: str) -> None:
        """Leave the lost head, then connect again with backoff and attach the actors (made again if gone)."""
        self._head_lost = True
        self._lost.set()
        for slot in self.slots.values():
            slot.state.alive = False
            slot.state.idle_since = None
            slot.state.last_error = f"the Ray head at {address} is unreachable; reconnecting"
        log.error("lost the Ray head at %s: jobs wait in the queue; reconnecting", address)
        await self._leave_ray()
        target = self.options.address or address  # a local start comes back as a new local instance
        delay = 0.5
        while not self._stopping:
            try:
                if self.options.address is not None:
                    await asyncio.to_thread(_probe, target, HEAD_PROBE_TIMEOUT_S)  # ray.init would retry for long
                await asyncio.to_thread(self._connect)
                handles = await asyncio.to_thread(ensure_actors, self.spec, self.options, len(self.slots))
                break
            except Exception as exc:
                log.warning("Ray head at %s still unreachable (%s); next try in %.1f s", target, exc, delay)
                await self._leave_ray()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        else:
            return
        for name, handle in handles.items():
            self.slots.setdefault(name, _Slot(WorkerState(name))).handle = handle
        self._lost = asyncio.Event()
        self._head_lost = False
        self.reconnects += 1
        log.warning("connected to the Ray head at %s again; attaching the workers", self._gcs_address)
        for slot in self.slots.values():
            if not slot.reviving:
                self._spawn(self._revive(slot))

    async def _leave_ray(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._ray.shutdown)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)


def connect(opts: RayOptions) -> tuple[Any, bool]:
    """Become a Ray driver: (the ray module, whether this call connected). Raises WorkersUnavailable.

    Token authentication is always on: a local start makes up a token nobody else knows and keeps
    every address on 127.0.0.1; a remote cluster needs its token (``RAY_AUTH_TOKEN``).
    """
    if _ray_connected():
        import ray

        return ray, False  # the process is already a driver (tests; an embedding application)
    token = opts.token
    if opts.address is None:
        keep_on_loopback()
        token = token or secrets.token_hex(32)
    elif not token:
        raise WorkersUnavailable(
            f"the Ray cluster at {opts.address} needs its auth token: set RAY_AUTH_TOKEN (see the README)"
        )
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = token
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray  # after the environment above: Ray reads its auth settings once

    _reload_auth_settings()
    kwargs: dict[str, Any] = {"namespace": opts.namespace, "log_to_driver": False, "logging_level": "WARNING"}
    if opts.address is None:
        kwargs.update(address="local", include_dashboard=False, _node_ip_address="127.0.0.1")
        kwargs.update(opts.init_kwargs)
    else:
        kwargs["address"] = opts.address
        _probe(opts.address)  # Ray itself retries an unreachable head for minutes before it says so
    try:
        ray.init(**kwargs)
    except Exception as exc:
        where = opts.address or "this machine"
        raise WorkersUnavailable(f"cannot reach the Ray cluster at {where}: {type(exc).__name__}: {exc}") from None
    return ray, True


def read_workers(opts: RayOptions, timeout_s: float = 15.0) -> list[WorkerState]:
    """The bot's actors in a running cluster, as they describe themselves; creates nothing.

    An actor that does not answer within ``timeout_s`` is listed as not alive.
    """
    ray, owned = connect(opts)
    try:
        names = sorted(
            entry["name"]
            for entry in ray.util.list_named_actors(all_namespaces=True)
            if entry["namespace"] == opts.namespace and entry["name"].startswith(ACTOR_PREFIX)
        )
        states = []
        for name in names:
            state = WorkerState(name)
            try:
                info = ray.get(ray.get_actor(name, namespace=opts.namespace).info.remote(), timeout=timeout_s)
            except Exception as exc:
                state.last_error = f"not answering: {type(exc).__name__}"
            else:
                _apply_info(state, info)
            states.append(state)
        return states
    finally:
        if owned:
            ray.shutdown()


def _apply_info(state: WorkerState, info: dict[str, Any]) -> None:
    state.host, state.pid, state.gpus = info["host"], info["pid"], tuple(info["gpus"])
    state.model, state.jobs_done, state.loads = info["model"], info["jobs_done"], info["loads"]
    state.last_error = info["last_error"] or state.last_error
    state.job_id = info["job_id"]
    state.alive = True


def ensure_actors(spec: EngineSpec, options: RayOptions, count: int) -> dict[str, Any]:
    """Handles of the ``count`` named, detached, restartable actors, created unless they exist (needs a driver)."""
    import ray

    remote_cls = ray.remote(EngineActor)
    handles = {}
    for index in range(count):
        name = f"{ACTOR_PREFIX}{index}"
        handles[name] = remote_cls.options(
            name=name,
            namespace=options.namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            num_gpus=options.gpus_per_worker,
            num_cpus=0,
            max_concurrency=ACTOR_CONCURRENCY,
        ).remote(name, spec)
    return handles


def keep_on_loopback() -> None:
    """Make a Ray instance started by this process keep every address, and every listening socket, on 127.0.0.1.

    Ray reads its switch (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) once, when first imported. With the switch
    on (Linux's default) ``ray.init(_node_ip_address="127.0.0.1")`` replaces 127.0.0.1 by the machine's
    network address, and the GCS then listens on every interface: it keeps to loopback only when its
    node address is exactly 127.0.0.1. So the switch is set here, and also where Ray has read it already.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # imported before this call: it read the environment then
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]  # Ray private, no stubs


def _reload_auth_settings() -> None:
    """Make Ray re-read RAY_AUTH_MODE / RAY_AUTH_TOKEN (it caches them when first imported)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]  # private, no stubs

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception:  # another Ray version: it read the environment on import, which came after ours
        log.debug("could not reload Ray's auth settings", exc_info=True)


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Raise WorkersUnavailable at once when nothing answers at the head's ``host:port``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise WorkersUnavailable(f"RAY_ADDRESS {address!r} is not host:port (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise WorkersUnavailable(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def _reason(exc: BaseException) -> str:
    """One line for people from a Ray error: for an actor whose engine failed to build, the engine's own error
    (the last line of the traceback Ray carries), not Ray's page of ids and addresses."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head, sep, _ = line.partition(": ")
        if sep and head.replace(".", "").isidentifier() and head.split(".")[-1].endswith(("Error", "Exception")):
            return line[:300]
    return f"{type(exc).__name__}: {lines[0] if lines else text}"[:300]
