"""The Ray back end: a pool of warm Ray actors behind the same fair queue, with the ``Backend`` face.

The dispatcher claims a job from the queue only when an actor is idle, so nothing waits inside Ray
and the queue's fairness, positions and ETAs stay exact. The job goes to an idle actor that already
has the job's base model loaded, else to the one idle longest. The actor streams progress, encodes
on its own host (``generation.jobs.finish.encode``) and returns the clip and, when the bot checks safety,
the raw frames; the one finishing path then writes the file atomically, judges the frames and finishes the
row (on a thread and the database thread, never on the event loop), passing the attempt number so a late
answer from an attempt presumed dead changes nothing. An image job carries its still's bytes.

Actors are named and detached: they outlive the bot and are re-attached warm at the next start, unless
they run other code or engine settings than this bot (then they are replaced). Ray restarts an actor that
dies; its job goes back in line with the attempt counted. The dispatcher runs under a supervisor, and a
job's task that dies puts its job back in line (attempt counted), logged with its traceback.

The Ray head is watched (a TCP probe of its GCS port every second). When it is lost the pool stops
dispatching, puts the jobs in flight back in line (attempt counted), leaves Ray (``ray.shutdown``,
before Ray's own reconnect timeout would end the process) and connects again with backoff; the
queue keeps accepting meanwhile, and the actors are attached (or made again) once the head is back.

Ray is imported when the pool starts, never at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.jobs.backend import WorkerState, supervise
from generation.jobs.events import EventKind, EventSink, JobEvent
from generation.jobs.finish import Finisher, Made, SafetyCheck
from generation.jobs.queue import CancelOutcome, JobQueue
from generation.jobs.ray.actor import EngineSpec, RunRequest, code_version
from generation.jobs.ray.cluster import (
    RayOptions,
    WorkersUnavailable,
    apply_info,
    connect,
    ensure_actors,
    probe,
    reason,
)
from generation.params import GenerationParams
from storage.models import Job

log = logging.getLogger("animatebot.pool")

RECONNECT_MAX_S = 30.0  # the longest wait between two tries to reach the Ray head again
HEAD_CHECK_S = 1.0  # how often the head's GCS port is probed
HEAD_PROBE_TIMEOUT_S = 2.0
HEAD_LOST_AFTER = 2  # probes failed in a row before the head counts as lost (one may be a hiccup)
REVIVE_POLL_MAX_S = 1.0  # a restarting actor is asked this often at least (a tiny call; the reload takes longer)


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
        active_model: Callable[[], str | None] = lambda: None,
        safety: SafetyCheck | None = None,
        version: str | None = None,
    ) -> None:
        self.queue = queue
        self.db = queue.repo.db
        self.spec = spec
        self.options = options
        self.media_dir = Path(media_dir)
        self.finisher = Finisher(queue, self.media_dir, on_event, safety=safety)
        self.job_timeout_s = job_timeout_s
        self.active_model = active_model
        # The code actors must run: this process's (a test stands for a bot on new code by naming another).
        self.version = version or code_version()
        self.restarts = 0  # the dispatcher's, counted on every worker's line
        self._files = ThreadPoolExecutor(2, thread_name_prefix="animatebot-pool-files")  # stills, clips, checks
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
        for name, handle in ensure_actors(self.spec, self.options, self._actor_count(), self.version).items():
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
        self._task = asyncio.create_task(
            supervise("pool dispatcher", self._loop, stopping=lambda: self._stopping, crashed=self._crashed),
            name="animatebot-pool",
        )
        self._watch_task = asyncio.create_task(
            supervise("pool head watch", self._watch_head, stopping=lambda: self._stopping, crashed=self._crashed),
            name="animatebot-pool-head",
        )

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
        self._files.shutdown(wait=True)

    @property
    def is_tiny(self) -> bool:
        return self.spec.is_tiny

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    async def wait_idle(self) -> None:
        """Return once nothing is queued or running (from memory)."""
        while True:
            if not self.busy and not self.queue.has_active():
                return
            await asyncio.sleep(0.05)

    async def _crashed(self, exc: BaseException) -> None:
        """A pool task died (the supervisor logged it and restarts it): the restart is counted on each line."""
        self.restarts += 1
        for slot in self.slots.values():
            slot.state.restarts = self.restarts

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

    async def cancel(self, job_id: int) -> CancelOutcome:
        """Cancel a job: a queued one never reaches Ray; a running one stops at its actor's next step."""
        outcome = await self.db.offload(self.queue.cancel, job_id)
        self._forward_cancels()
        return outcome

    def states(self) -> list[WorkerState]:
        """Each actor as last seen (``workers`` asks them first)."""
        return [slot.state for slot in self.slots.values()]

    async def workers(self) -> list[WorkerState]:
        """Each actor as it answers now; while the head is away each shows as down, with why."""
        if not self._head_lost:
            await asyncio.gather(*(self._refresh(slot) for slot in self.slots.values() if not slot.reviving))
        return self.states()

    @property
    def head_lost(self) -> bool:
        """True while the Ray head cannot be reached (jobs wait in the queue; the pool reconnects)."""
        return self._head_lost

    # --- the loop ------------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while not self._stopping:
            started = await self._dispatch_one()
            self._forward_cancels()
            if started:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.5)

    async def _dispatch_one(self) -> bool:
        if self._head_lost or not self.queue.has_waiting():  # from memory: nothing to claim costs nothing
            return False
        if not any(s.state.idle_since is not None and s.state.alive for s in self.slots.values()):
            return False
        job = await self.db.offload(self.queue.next_job)  # the claim's write (retried there) on the database thread
        if job is None:
            return False
        try:
            model = GenerationParams.from_dict(job.params).model or self.active_model()
        except Exception:  # the dispatcher dies here (its supervisor restarts it), but never with a job in hand
            await self.finisher.lost(job, attempt=job.attempts, why="the dispatcher died while placing it")
            raise
        slot = self._pick_idle(model)
        if slot is None:  # an actor was lost or reserved meanwhile: never lose a claimed job
            await self.finisher.requeue(job, attempt=job.attempts, count_attempt=False)
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
        """One job's task. If it dies, its traceback is logged, the actor is told to drop the job and the job
        goes back in line (attempt counted), to be dispatched again like any other."""
        attempt = job.attempts
        outcome: tuple[Any, ...] | None = None
        died = False
        params = GenerationParams.from_dict(job.params)
        try:
            params = self._params(job)
            outcome = await self._drive_unless_head_lost(slot, job, params)
        except Exception as exc:
            log.exception("the task running job #%s on %s died; the job goes back in line", job.id, slot.state.name)
            died = True
            slot.state.restarts += 1
            slot.state.last_error = f"the task running job #{job.id} died ({type(exc).__name__}: {exc}); restarted"
        finally:
            # The actor's part is over: it takes the next job while this one is written and finished.
            slot.state.job_id = None
            self._cancel_sent.discard(job.id)
            if died and not self._head_lost:
                with contextlib.suppress(Exception):
                    slot.handle.cancel.remote(job.id, "shutdown")  # it may still be making the job
                self._spawn(self._revive(slot))
            elif outcome is None:
                slot.state.alive = False
                self._spawn(self._revive(slot))
            else:
                slot.state.idle_since = time.monotonic()
            self._wake.set()
        if outcome is None:
            why = "its task died" if died else f"its worker {slot.state.name} was lost"
            await self.finisher.lost(job, attempt=attempt, why=why)
            return
        try:
            await self._settle(slot, job, params, outcome)
        except Exception:  # the finishing path handles what it knows; what escapes never strands the job
            log.exception("job #%s: its finishing died; the job goes back in line", job.id)
            await self.finisher.lost(job, attempt=attempt, why="its finishing died")

    async def _settle(self, slot: _Slot, job: Job, params: GenerationParams, outcome: tuple[Any, ...]) -> None:
        kind, attempt = outcome[0], job.attempts
        if kind == "done":
            made: Made = outcome[1]
            slot.state.model = made.result.model
            worker = slot.state.name
            if await self.finisher.succeed(job, params, lambda: made, self._files, attempt=attempt, worker=worker):
                slot.state.jobs_done += 1
        elif kind == "cancelled":
            await self._cancelled(job, outcome[1])
        else:
            slot.state.last_error = outcome[1]
            await self.finisher.fail(job, outcome[1], attempt=attempt)

    def _params(self, job: Job) -> GenerationParams:
        """The exact parameters a claimed job runs with: the seed the claim fixed (a rerun after a lost worker
        makes the same clip) and the base model chosen now unless the job named one."""
        params = GenerationParams.from_dict(job.params)
        if params.seed is None:
            params = params.with_changes(seed=job.seed)
        if params.model is None:
            params = params.with_changes(model=self.active_model())
        return params

    async def _drive_unless_head_lost(self, slot: _Slot, job: Job, params: GenerationParams) -> tuple[Any, ...] | None:
        """``_drive``, given up (None: back in line, attempt counted) as soon as the head is lost."""
        drive = asyncio.ensure_future(self._drive(slot, job, params))
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

    async def _drive(self, slot: _Slot, job: Job, params: GenerationParams) -> tuple[Any, ...] | None:
        """Run ``job`` on ``slot``'s actor, reporting progress; its terminal item, or None when the actor died."""
        ray = self._ray
        image = None
        if params.image is not None:  # the actor's host shares no disk with this one: the still travels
            try:
                image = await asyncio.get_running_loop().run_in_executor(self._files, _read, params.image)
            except OSError as exc:
                return ("failed", f"the input image {params.image!r} cannot be read: {exc.strerror or exc}")
        source = None
        if params.source is not None:  # a Smooth/Upscale/Extend job's clip travels like a still
            try:
                source = await asyncio.get_running_loop().run_in_executor(self._files, _read, params.source)
            except OSError as exc:
                return ("failed", f"the clip to start from cannot be read: {exc.strerror or exc}")
        await self.finisher.emit(JobEvent(EventKind.STARTED, job.id, 0, params.steps, job=job))
        request = RunRequest(
            job.id,
            job.attempts,
            params.to_dict(),
            job.max_bytes,
            self.job_timeout_s,
            image=image,
            want_frames=self.finisher.safety is not None,
            source=source,
        )
        try:
            stream = slot.handle.run.options(num_returns="streaming").remote(request)
            async for ref in stream:
                item = await ref
                if item[0] != "progress":
                    return tuple(item)  # terminal: no need to wait for the stream's end
                await self.finisher.emit(JobEvent(EventKind.PROGRESS, job.id, item[1], item[2]))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            slot.state.last_error = f"lost while making job #{job.id}: {type(exc).__name__}"
            log.warning("worker %s lost while making job #%s: %s", slot.state.name, job.id, type(exc).__name__)
            return None
        return ("failed", "the worker ended the job without a result")

    async def _cancelled(self, job: Job, why: str) -> None:
        if why == "timeout":
            await self.finisher.fail(
                job, f"took longer than the {self.job_timeout_s:.0f} s limit and was stopped", attempt=job.attempts
            )
        elif why == "shutdown":
            if await self.finisher.requeue(job, attempt=job.attempts, count_attempt=False):
                log.info("job #%s put back in line for the next start", job.id)
        else:
            await self.finisher.cancelled(job, attempt=job.attempts)

    # --- actor health ------------------------------------------------------------------------------------
    async def _refresh(self, slot: _Slot, *, orphan_ok: bool = False) -> bool:
        """Read the actor's state; False when it does not answer. A job it runs for a previous bot is stopped."""
        try:
            info = await slot.handle.info.remote()
        except Exception as exc:
            slot.state.alive = False
            slot.state.last_error = reason(exc)
            return False
        state = slot.state
        running_here, known_job = info["job_id"], state.job_id
        apply_info(state, info)
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
                await asyncio.to_thread(probe, address, HEAD_PROBE_TIMEOUT_S)
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
                    await asyncio.to_thread(probe, target, HEAD_PROBE_TIMEOUT_S)  # ray.init would retry for long
                await asyncio.to_thread(self._connect)
                handles = await asyncio.to_thread(ensure_actors, self.spec, self.options, len(self.slots), self.version)
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


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()
