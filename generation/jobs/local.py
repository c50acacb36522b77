"""The local back end: one in-process GPU worker that claims jobs from the queue, generates them and hands
the frames to the one finishing path (``generation.jobs.finish``).

Generation runs on one dedicated thread (the engine is not thread-safe and CUDA likes one
thread), so the event loop never blocks. Encoding runs on another thread and overlaps the
next job's denoising. Database calls run on the database thread (``Database.offload``), never
on the event loop and never on the generation thread. One failing job never stops the worker.

No bot work stands between two jobs on the GPU: when a job's last denoising step is done (its
decode and encode still to come), the generation thread claims the next job in memory
(``JobQueue.take``: as late as that, so the fair order sees every submission until then) and queues
it behind the current one, where it starts the moment the current job returns; the claim's write
goes to the database thread ahead of its other work, and the engine never waits for it. ``idle_gaps``
records, for each job started that way, the time from the previous job's last denoising step to
this job's ``generate`` call.

Events that happen on the generation thread (started, progress) reach the loop in batches: one
callback per batch, one task delivering them in order, never a task per event.

The worker's face to the rest of the bot is the ``Backend`` protocol (``generation.jobs.backend``); the
Ray pool implements the same. Its loop runs under a supervisor: if it dies, the traceback is logged, its
jobs go back in line (attempt counted) and the loop starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.errors import GenerationCancelled, GenerationError
from generation.jobs.backend import Engine, WorkerState, supervise
from generation.jobs.events import EventKind, EventSink, JobEvent
from generation.jobs.finish import Finisher, Made, SafetyCheck, encode_made
from generation.jobs.queue import CancelOutcome, JobQueue
from generation.params import GenerationParams
from generation.result import GenerationResult
from storage.models import Job

log = logging.getLogger("animatebot.worker")

# At most this many generated clips wait for the encoder before the next job is claimed: decoded
# frames are large (16 frames of 512x512 RGB: 12 MiB) and an encoder slower than the GPU would
# otherwise pile them up. A job claimed after waiting for room is not counted as started back to back.
ENCODES_AHEAD = 4


@dataclass(eq=False)
class _Run:
    """One claimed job on its way through the generation thread."""

    job: Job
    params: GenerationParams
    prefetched: bool  # claimed while the previous job was still on the generation thread
    future: asyncio.Future[Any] | None = None
    deadline: float | None = None
    started: Future[Any] | None = None  # the generation thread's future, when the job was queued behind another
    asked: bool = False  # the next job was looked for (once, at this job's last denoising step)
    next: _Run | None = None  # the job claimed then, already queued on the generation thread
    progress: tuple[int, int] = (0, 0)  # the latest (step, total), written by the generation thread
    progress_scheduled: bool = False  # the run waits among the side events: its ``progress`` will be emitted
    dropped: threading.Event | None = None  # set when the claim's write failed and the job went back in line
    counted: bool = True  # among the worker's unfinished jobs (until its generation fails or its clip is done)


@dataclass
class _Gaps:
    """GPU idle gaps between jobs started back to back (seconds), the most recent few thousand."""

    values: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def median_ms(self) -> float | None:
        return statistics.median(self.values) * 1000 if self.values else None


class Worker:
    """The local back end (``generation.jobs.backend.Backend``): one engine in this process."""

    def __init__(
        self,
        queue: JobQueue,
        engine: Engine,
        *,
        media_dir: Path,
        on_event: EventSink,
        job_timeout_s: float = 600.0,
        active_model: Callable[[], str | None] = lambda: None,
        safety: SafetyCheck | None = None,
        device: str | None = None,
    ) -> None:
        self.queue = queue
        self.engine = engine
        self.media_dir = Path(media_dir)
        self.job_timeout_s = job_timeout_s
        self.active_model = active_model  # the admin's choice, read before every job (from memory)
        self.db = queue.repo.db
        self.finisher = Finisher(queue, self.media_dir, on_event, safety=safety)
        self.state = WorkerState("local", host=socket.gethostname(), gpus=(device or "auto",), alive=False)
        self._gen = ThreadPoolExecutor(1, thread_name_prefix="animatebot-gen")
        self._enc = ThreadPoolExecutor(1, thread_name_prefix="animatebot-enc")
        self._wake = asyncio.Event()
        self._looking = False  # the loop is looking for (or waiting for) work: submissions wake it
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._encodes: set[asyncio.Task[None]] = set()
        # Jobs claimed and not yet encoded, counted on the generation thread (which claims ahead by itself)
        # and the loop (which sees them end): the claim ahead waits while ENCODES_AHEAD of them are unfinished.
        self._unfinished = 0
        self._unfinished_lock = threading.Lock()
        self._side_events: deque[JobEvent | _Run] = deque()  # from the generation thread, waiting for the loop
        self._side_task: asyncio.Task[None] | None = None
        self._side_lock = threading.Lock()
        self._side_scheduled = False  # a loop callback will start (or find running) the task emitting them
        self._runs: set[_Run] = set()
        self._shutdown_cancel = False
        self._last_denoised: float | None = None  # monotonic time the last job's denoising ended (generation thread)
        self.idle_gaps = _Gaps()
        self.loaded = False

    # --- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the model once (on the generation thread) and start taking jobs."""
        loop = asyncio.get_running_loop()
        self.queue.subscribe(lambda: self._wake_from_any_thread(loop))
        self.media_dir.mkdir(parents=True, exist_ok=True)
        await loop.run_in_executor(self._gen, self._load)
        self.loaded = True
        self.state.alive = True
        self.state.loads += 1
        self._task = asyncio.create_task(
            supervise("worker", self._loop, stopping=lambda: self._stopping, crashed=self._crashed),
            name="animatebot-worker",
        )

    @property
    def is_tiny(self) -> bool:
        return bool(self.engine.is_tiny)

    async def cancel(self, job_id: int) -> CancelOutcome:
        """Cancel a queued job, or stop the running one at its next denoising step (or before its end is written)."""
        return await self.db.offload(self.queue.cancel, job_id)

    async def workers(self) -> list[WorkerState]:
        """The one local worker (from memory)."""
        state = self.state
        state.model = self.engine.active_model
        running = [run.job.id for run in self._runs]
        state.job_id = min(running) if running else None
        return [state]

    async def _crashed(self, exc: BaseException) -> None:
        """The loop died: its jobs go back in line (attempt counted), and the supervisor starts it again."""
        self.state.restarts += 1
        self.state.last_error = f"the worker loop died ({type(exc).__name__}: {exc}); restarted"
        runs: list[_Run] = []
        for first in self._runs:
            run: _Run | None = first
            while run is not None and run not in runs:
                runs.append(run)
                run = run.next
        self._runs = set()
        self._shutdown_cancel = True  # a generation still on the thread stops at its next step
        for run in runs:
            if run.started is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wrap_future(run.started)  # off the generation thread before it runs again
            self._one_ended(run)
            await self.finisher.lost(run.job, attempt=run.job.attempts, why="the worker loop died")
        self._shutdown_cancel = False

    def _wake_from_any_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        # Only while the loop looks for work: a busy worker claims the next job itself, and waking the
        # loop for every accepted job would cost a hand-over each.
        if self._looking and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def _load(self) -> None:
        self.engine.load()
        wanted = self.active_model()
        if wanted and wanted != self.engine.active_model:
            try:
                self.engine.switch_model(wanted)
            except Exception as exc:  # the configured default stays usable
                log.error("could not switch to the stored base model %r: %s", wanted, exc)

    async def stop(self, grace_s: float = 30.0) -> None:
        """Take no more jobs; let the running one finish within ``grace_s``, else requeue it. Once is enough:
        a second call returns at once."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                self._shutdown_cancel = True  # stops at the next denoising step and goes back in line
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._task, 60)
        if self._encodes:
            await asyncio.gather(*self._encodes, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._gen, self.engine.close)
        self._gen.shutdown(wait=True)
        self._enc.shutdown(wait=True)

    async def validate_model(self, name: str) -> str:
        """Load ``name`` on the generation thread (between jobs); raises the engine's ModelLoadError."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._gen, self.engine.switch_model, name)

    @property
    def busy(self) -> bool:
        return bool(self._runs) or bool(self._encodes)

    async def wait_idle(self) -> None:
        """Return once nothing is queued, running or encoding."""
        while True:
            if not self.busy and not self.queue.has_active():
                return
            await asyncio.sleep(0.05)

    # --- the loop ------------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        pending: _Run | None = None
        while True:
            run, pending = pending, None
            if run is None:
                while len(self._encodes) >= ENCODES_AHEAD:  # room for this job's clip first
                    await asyncio.wait(set(self._encodes), return_when=asyncio.FIRST_COMPLETED)
                if self._stopping:
                    return
                self._looking = True  # before looking: a submission from now on wakes the wait below
                self._wake.clear()
                run = await self._start_next()
                if run is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 1.0)
                    continue
                self._looking = False
            # An error here kills the loop: the supervisor logs it, puts this job back in line and restarts it.
            await self._follow(run)
            self._runs.discard(run)
            if run.next is not None:  # claimed on the generation thread before this job returned
                pending = run.next
                self._adopt(pending)

    async def _start_next(self) -> _Run | None:
        """An idle worker's next job: claimed on the generation thread, which starts it right after."""
        if not self.queue.has_waiting():  # from memory: an empty or paused queue costs nothing
            return None
        loop = asyncio.get_running_loop()
        try:
            run = await loop.run_in_executor(self._gen, self._claim_and_start, loop, False)
        except Exception:
            log.exception("could not take the next job; retrying")
            return None
        if run is not None:
            self._adopt(run)
        return run

    def _claim_and_start(self, loop: asyncio.AbstractEventLoop, prefetched: bool = True) -> _Run | None:
        """On the generation thread: claim the next job in memory and queue it on this thread (behind the
        current job when ``prefetched``); the claim's write goes to the database thread ahead of everything
        else there, and the job does not wait for it."""
        claim = self.queue.take()
        if claim is None:
            return None
        with self._unfinished_lock:
            self._unfinished += 1
        self.db.submit_first(claim.record)
        run = _Run(claim.job, GenerationParams.from_dict(claim.job.params), prefetched, dropped=claim.dropped)
        run.started = self._gen.submit(self._generate, run, loop)
        return run

    def _adopt(self, run: _Run) -> None:
        """On the loop: follow a run the database thread started."""
        assert run.started is not None
        self._runs.add(run)
        run.future = asyncio.wrap_future(run.started)

    def _params(self, job: Job) -> GenerationParams:
        """The exact parameters a claimed job runs with: the seed the claim fixed (a rerun after a crash
        makes the same clip) and the base model chosen now unless the job named one."""
        params = GenerationParams.from_dict(job.params)
        if params.seed is None:
            params = params.with_changes(seed=job.seed)
        if params.model is None:
            params = params.with_changes(model=self.active_model())
        return params

    def _generate(self, run: _Run, loop: asyncio.AbstractEventLoop) -> Any:
        """On the generation thread: run the engine; nothing here touches the database."""
        run.params = self._params(run.job)  # here, not at the claim: an error then fails this job, never loses it
        started = time.monotonic()
        if run.prefetched and self._last_denoised is not None:
            self.idle_gaps.values.append(started - self._last_denoised)
        job_id, total = run.job.id, run.params.steps
        run.deadline = started + self.job_timeout_s
        self._side_emit_threadsafe(loop, JobEvent(EventKind.STARTED, job_id, 0, total, job=run.job))

        def progress(step: int, steps: int) -> None:
            if step >= steps and not run.asked:
                run.asked = True
                self._last_denoised = time.monotonic()
                try:  # never fails this job; the next one is claimed on the loop instead
                    if not self._stopping and self.queue.has_waiting() and self._unfinished <= ENCODES_AHEAD:
                        run.next = self._claim_and_start(loop)
                except Exception:
                    log.exception("could not claim the job after #%s", job_id)
            # Latest step wins: steps that come faster than the loop takes them become one event.
            run.progress = (step, steps)
            if not run.progress_scheduled:
                run.progress_scheduled = True
                self._side_emit_threadsafe(loop, run)  # with the started event, one wake-up of the loop

        def should_cancel() -> bool:
            return (
                self._shutdown_cancel
                or (run.dropped is not None and run.dropped.is_set())
                or self.queue.cancel_requested(job_id)
                or (run.deadline is not None and time.monotonic() > run.deadline)
            )

        return self.engine.generate(run.params, progress=progress, should_cancel=should_cancel)

    async def _follow(self, run: _Run) -> None:
        assert run.future is not None
        job = run.job
        try:
            result = await run.future
        except Exception as exc:
            self._one_ended(run)
            timed_out = run.deadline is not None and time.monotonic() > run.deadline
            await self._generation_failed(run, exc, timed_out=timed_out)
            return
        # Encoding overlaps the next job's denoising; the job stays "running" until its file exists.
        task = asyncio.create_task(self._finish(job, run.params, result, run.dropped))
        self._encodes.add(task)
        task.add_done_callback(lambda done: self._encoded(run, done))

    def _encoded(self, run: _Run, task: asyncio.Task[None]) -> None:
        self._one_ended(run)
        error = None if task.cancelled() else task.exception()
        if error is None:
            self._encodes.discard(task)
            return
        # The finishing path handles every failure it knows; what escapes it still never strands the job.
        log.error("job #%s: its finishing task died; the job goes back in line", run.job.id, exc_info=error)
        lost = asyncio.ensure_future(self.finisher.lost(run.job, attempt=run.job.attempts, why="its finishing died"))
        self._encodes.add(lost)  # stop() and wait_idle() wait for it like for any clip being finished
        lost.add_done_callback(self._encodes.discard)
        self._encodes.discard(task)

    def _one_ended(self, run: _Run) -> None:
        if run.counted:
            run.counted = False
            with self._unfinished_lock:
                self._unfinished -= 1

    def _side_emit_threadsafe(self, loop: asyncio.AbstractEventLoop, event: JobEvent | _Run) -> None:
        """From the generation thread: queue ``event`` (a run: its latest progress, read when it is emitted);
        the loop is woken once for a batch of them."""
        with self._side_lock:
            self._side_events.append(event)
            if self._side_scheduled:
                return
            self._side_scheduled = True
        loop.call_soon_threadsafe(self._drain_side_events)

    def _drain_side_events(self) -> None:
        with self._side_lock:
            self._side_scheduled = False
        # The task empties the queue before it ends, and nothing awaits between its last look and its end.
        if self._side_task is None or self._side_task.done():
            self._side_task = asyncio.ensure_future(self._emit_side_events())

    async def _emit_side_events(self) -> None:
        while self._side_events:
            item = self._side_events.popleft()
            if isinstance(item, _Run):  # latest step wins: steps that came faster than the loop are one event
                item.progress_scheduled = False  # cleared before reading: a later step queues it again
                step, steps = item.progress
                item = JobEvent(EventKind.PROGRESS, item.job.id, step, steps, job=item.job)
            await self.finisher.emit(item)

    async def _generation_failed(self, run: _Run, exc: Exception, *, timed_out: bool) -> None:
        job = run.job
        if run.dropped is not None and run.dropped.is_set():
            log.info("job #%s stopped: its claim was not written, and the job waits in line", job.id)
        elif isinstance(exc, GenerationCancelled) and timed_out:
            await self.finisher.fail(job, f"took longer than the {self.job_timeout_s:.0f} s limit and was stopped")
        elif isinstance(exc, GenerationCancelled) and self._shutdown_cancel:
            if await self.finisher.requeue(job, attempt=None, count_attempt=False):
                log.info("job #%s put back in line for the next start", job.id)
        elif isinstance(exc, GenerationCancelled):
            await self.finisher.cancelled(job)
        else:
            log.warning("job #%s failed: %s", job.id, exc, exc_info=not _is_user_error(exc))
            await self.finisher.fail(job, _user_message(exc))

    async def _finish(
        self, job: Job, params: GenerationParams, result: GenerationResult, dropped: threading.Event | None
    ) -> None:
        """Encode, store and end a generated job through the one finishing path: the encode thread encodes
        and stores, then hands the job's end straight to the database thread (three hand-overs in all)."""

        def make() -> Made:  # on the encode thread
            return encode_made(result, params, job.max_bytes)

        if await self.finisher.succeed(job, params, make, self._enc, dropped=dropped):
            self.state.jobs_done += 1


def _is_user_error(exc: Exception) -> bool:
    return isinstance(exc, GenerationError)


def _user_message(exc: Exception) -> str:
    if _is_user_error(exc):
        return str(exc)
    return f"generation failed ({type(exc).__name__}: {exc})"
