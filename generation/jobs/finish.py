"""The one way a clip is finished, whatever made its frames: loop -> encode within the byte budget ->
atomic write -> safety check -> finish the row -> events.

``encode`` runs where the frames are (the local worker's encode thread, a Ray actor's host, ``animatebot
generate``); the rest runs on the bot's host through a ``Finisher``, on a thread of the back end's and the
database thread, never on the event loop. The safety check reads the raw frames the engine made, on both
back ends. Every row write here is retried; a job whose end cannot be written goes back in line, and one
that cannot even be put back is logged as such: nothing is swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.jobs.events import EventKind, EventSink, JobEvent
from generation.jobs.queue import JobQueue
from generation.media.encode import EncodedClip, EncodeError, encode_clip
from generation.media.files import write_atomically
from generation.media.loop import apply_loop
from generation.params import VARIANTS, GenerationParams
from generation.result import GenerationResult
from storage.models import Job, JobStatus, SafetyDecision

log = logging.getLogger("animatebot.finish")

WRITE_TRIES = 3  # a row write (a job's end, its return to the line) is tried this often
EVENT_TRIES = 3  # a terminal event the sink refused is offered this often
RETRY_DELAY_S = 0.2  # before the second try; doubled before each later one

# The NSFW check on a finished clip's raw frames (generation.engine.safety builds the real one): the
# highest score and whether it counts as flagged; a score of None means no classifier could judge.
SafetyCheck = Callable[[Sequence[Any]], tuple[float | None, bool]]


def clip_filename(job_id: int, prompt: str, extension: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].strip("-") or "clip"
    return f"{job_id:06d}-{slug}{extension}"


def encode(result: GenerationResult, params: GenerationParams, max_bytes: int) -> EncodedClip:
    """The clip's file in its playing order (``params.loop``) and format, at the rate its frames were made for
    (``result.fps``: a smoothed clip's is higher than asked), within ``max_bytes``.

    Raises EncodeError when nothing fits the budget.
    """
    frames = apply_loop(result.frames, params.loop)
    return encode_clip(frames, format=params.format, fps=result.fps, max_bytes=max_bytes)


def variant_filename(path: str, index: int) -> str:
    """Where take ``index`` (from 0) of a set is kept: the first take at ``path``, take 2 at ``...-v2.gif``."""
    if index == 0:
        return path
    stem, extension = os.path.splitext(path)
    return f"{stem}-v{index + 1}{extension}"


@dataclass(frozen=True)
class Made:
    """A clip generated and encoded where its frames were made: what a back end hands to the ``Finisher``.

    ``result.frames`` are the raw frames for the safety check (empty where no check wants them: a Ray
    actor then sends none); ``more`` the files of a set's other takes, in order.
    """

    result: GenerationResult
    clip: EncodedClip
    more: tuple[EncodedClip, ...] = ()

    @property
    def clips(self) -> tuple[EncodedClip, ...]:
        return (self.clip, *self.more)


def encode_made(result: GenerationResult, params: GenerationParams, max_bytes: int) -> Made:
    """Every take of ``result`` encoded (each within ``max_bytes``: the service splits a message's budget
    between the takes); raises EncodeError when one does not fit."""
    clips = [encode(dataclasses.replace(result, frames=frames), params, max_bytes) for frames in result.clips]
    return Made(result, clips[0], tuple(clips[1:]))


def generated_values(result: GenerationResult) -> dict[str, object]:
    """What generation made of a job, for its row (written with the job's end: one write per job)."""
    return {
        "seed": result.seed,
        "model_used": result.model,
        "steps_used": result.steps,
        "motions_used": "+".join(str(m) for m in result.motions) or "none",
        "load_s": result.timings.load_s,
        "denoise_s": result.timings.denoise_s,
        "decode_s": result.timings.decode_s,
        "notes": "\n".join(result.notes) or None,
        "tiny": result.tiny,
        "progress_step": result.steps,
    }


class Finisher:
    """Stores a made clip and ends its job's row, then reports the job's end; both back ends use one."""

    def __init__(
        self, queue: JobQueue, media_dir: Path, on_event: EventSink, *, safety: SafetyCheck | None = None
    ) -> None:
        self.queue = queue
        self.db = queue.repo.db
        self.media_dir = Path(media_dir)
        self.on_event = on_event
        self.safety = safety
        # The run that last wrote each clip path: two runs of one job (a claim put back in line while its
        # first run still ended, a late answer) write the same name, and only the last writer may remove it.
        self._writers: dict[str, object] = {}

    # --- a made clip ---------------------------------------------------------------------------------------
    async def succeed(
        self,
        job: Job,
        params: GenerationParams,
        make: Callable[[], Made],
        executor: Executor,
        *,
        attempt: int | None = None,
        worker: str | None = None,
        dropped: threading.Event | None = None,
    ) -> bool:
        """Run ``make`` (encoding, when not done yet), store the clip and end the job: on ``executor``'s
        thread, which hands the row's end straight to the database thread. True when the job succeeded.

        The job ends cancelled instead when a cancel or a delete came meanwhile; failed when encoding failed.
        Nothing is written when ``dropped`` is set: this run's claim was never written, and the job, back in
        line, may be running again under a claim of its own.
        """
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[tuple[Job | None, str]] = loop.create_future()
        stored: list[tuple[str, dict[str, Any]]] = []
        run = object()
        executor.submit(self._store_and_end, job, params, make, (attempt, worker, dropped), ended, stored, run)
        try:
            finished, path = await ended
        except _NotMade as exc:
            error = exc.error
            if not isinstance(error, EncodeError):
                log.error("job #%s: encoding failed", job.id, exc_info=error)
            await self.fail(job, f"could not encode the clip: {error}", attempt=attempt, **exc.values)
            return False
        except Exception:
            if not stored:
                raise
            log.warning("job #%s: writing its end failed; trying again", job.id, exc_info=True)
            path, values = stored[0]
            finished = await self._end_again(job, attempt, path, values)
            if finished is _REQUEUED:
                self._remove(path, run)
                return False
        if finished is not None and finished.status == JobStatus.SUCCEEDED:
            if self._writers.get(path) is run:
                del self._writers[path]
            await self.emit(JobEvent(EventKind.SUCCEEDED, job.id, output_path=path, job=finished))
            return True
        self._remove(path, run)  # cancelled, deleted or taken away meanwhile: not wanted
        if finished is not None:
            await self.emit(JobEvent(EventKind.CANCELLED, job.id, message="cancelled while encoding"))
        return False

    def _store_and_end(
        self,
        job: Job,
        params: GenerationParams,
        make: Callable[[], Made],
        claim: tuple[int | None, str | None, threading.Event | None],
        ended: asyncio.Future[tuple[Job | None, str]],
        stored: list[tuple[str, dict[str, Any]]],
        run: object,
    ) -> None:
        """On the back end's thread: the clip's file and its NSFW verdict, then the row's end on the database
        thread, whose answer goes to ``ended``."""
        loop = ended.get_loop()
        attempt, worker, dropped = claim
        result: GenerationResult | None = None
        try:
            made = make()
            result = made.result
            path, values = self.store(job, params, made, worker=worker, run=run)
        except Exception as exc:
            for path, writer in list(self._writers.items()):  # a clip that could not be written is nobody's
                if writer is run:
                    del self._writers[path]
            values = generated_values(result) if result is not None else {}
            loop.call_soon_threadsafe(_settle_error, ended, _NotMade(exc, values))
            return
        stored.append((path, values))

        def end() -> tuple[Job | None, str]:
            if dropped is not None and dropped.is_set():  # checked on the database thread, after the claim's write
                return None, path
            return self.queue.finish_made(job.id, attempt, **values), path

        self.db.answer(ended, end)

    def store(
        self, job: Job, params: GenerationParams, made: Made, *, worker: str | None = None, run: object = None
    ) -> tuple[str, dict[str, Any]]:
        """Write ``made``'s clip atomically and judge its raw frames: (its path, the row's values at its end).
        Blocking: on a back end's thread."""
        result, clip = made.result, made.clip
        path = os.path.join(self.media_dir, clip_filename(job.id, job.prompt, clip.extension))
        self._writers[path] = run
        for index, take in enumerate(made.clips):  # a crash never leaves half a clip under the real name
            write_atomically(variant_filename(path, index), take.data)
        t = result.timings
        encode_s = sum(take.encode_s for take in made.clips)
        overhead_s = t.load_s + t.decode_s + encode_s
        self.queue.record_timing(result.steps, params.frames, t.denoise_s, overhead_s, variants=len(made.clips))
        score, flagged = self.verdict(job, result.frames)
        takes = self._takes(job, path, made, (score, flagged)) if made.more else None
        if takes is not None:
            scores = [take["safety_score"] for take in takes if take["safety_score"] is not None]
            score = max(scores) if scores else None
            flagged = (
                None
                if all(take["safety_flagged"] is None for take in takes)
                else any(bool(take["safety_flagged"]) for take in takes)
            )
        values: dict[str, Any] = {
            **generated_values(result),
            "notes": "\n".join((*result.notes, *clip.changes)) or None,
            "safety_score": score,
            "safety_flagged": flagged,
            "output_path": path,
            "output_format": clip.format,
            "output_bytes": clip.size,
            "encode_s": encode_s,
            "variant_count": len(made.clips),
            "variants": takes,
        }
        if worker is not None:
            values["worker"] = worker
        if not flagged:  # a clip nobody flagged passes whatever its channel's policy (written with the end)
            values["safety_decision"] = SafetyDecision.PASSED.value
        return path, values

    def _takes(self, job: Job, path: str, made: Made, first: tuple[float | None, bool | None]) -> list[dict[str, Any]]:
        """A set's takes for its row: each one's seed, file and its own safety verdict."""
        takes = []
        for index, (seed, take) in enumerate(zip(made.result.seeds, made.clips, strict=True)):
            frames = made.result.clips[index] if index < len(made.result.clips) else []
            score, flagged = first if index == 0 else self.verdict(job, frames)
            takes.append(
                {
                    "seed": seed,
                    "path": variant_filename(path, index),
                    "bytes": take.size,
                    "format": take.format,
                    "safety_score": score,
                    "safety_flagged": flagged,
                }
            )
        return takes

    def verdict(self, job: Job, frames: Sequence[Any]) -> tuple[float | None, bool | None]:
        """The NSFW verdict on the raw frames; None when the check is off. A check that fails counts as
        flagged: the channel's policy then withholds or hides the clip."""
        if self.safety is None:
            return None, None
        try:
            return self.safety(frames)
        except Exception:
            log.exception("job #%s: the safety check failed; the clip counts as flagged", job.id)
            return None, True

    async def _end_again(self, job: Job, attempt: int | None, path: str, values: dict[str, Any]) -> Any:
        """The end of a made job, written again after its first write failed; _REQUEUED when every try failed
        (the job is then back in line, attempt counted, or logged as stuck until the next start)."""

        def end() -> Job | None:
            finished = self.queue.finish_made(job.id, attempt, **values)
            if finished is None:  # a first write that failed after committing leaves the row ended
                row = self.queue.repo.job(job.id)
                if row is not None and row.status == JobStatus.SUCCEEDED and row.output_path == path:
                    return row
            return finished

        try:
            return await self.write(end, what=f"job #{job.id}'s end", tries=WRITE_TRIES - 1)
        except Exception:
            await self.requeue(job, attempt=attempt, count_attempt=True)
            return _REQUEUED

    def _remove(self, path: str, run: object) -> None:
        """Remove an unwanted clip, unless a later run of the same job has written that name since."""
        if self._writers.get(path) is not run:
            return
        del self._writers[path]
        for index in range(max(VARIANTS)):  # a set's other takes sit beside its first
            with contextlib.suppress(FileNotFoundError):
                os.unlink(variant_filename(path, index))

    # --- the other ends ------------------------------------------------------------------------------------
    async def fail(self, job: Job, message: str, *, attempt: int | None = None, **values: Any) -> None:
        if await self._end(job, JobStatus.FAILED, attempt, error=message, **values):
            await self.emit(JobEvent(EventKind.FAILED, job.id, message=message))

    async def cancelled(
        self, job: Job, *, attempt: int | None = None, message: str = "cancelled while generating"
    ) -> None:
        if await self._end(job, JobStatus.CANCELLED, attempt):
            await self.emit(JobEvent(EventKind.CANCELLED, job.id, message=message))

    async def _end(self, job: Job, status: JobStatus, attempt: int | None, **values: Any) -> bool:
        try:
            return bool(
                await self.write(self.queue.finish, job.id, status, attempt, what=f"job #{job.id}'s end", **values)
            )
        except Exception:
            await self.requeue(job, attempt=attempt, count_attempt=True)
            return False

    async def lost(self, job: Job, *, attempt: int, why: str) -> None:
        """The worker making ``job`` was lost (an actor died, a back end's task died): back in line with the
        attempt counted, or failed once it has been lost ``max_attempts`` times."""
        if attempt >= self.queue.max_attempts:
            await self.fail(
                job, f"the worker making this clip was lost {attempt} times; giving up on it", attempt=attempt
            )
        elif await self.requeue(job, attempt=attempt, count_attempt=True):
            log.warning("job #%s back in line: %s", job.id, why)

    async def requeue(self, job: Job, *, attempt: int | None, count_attempt: bool) -> bool:
        """Put a running job back in line; an error is logged (the job is then requeued at the next start)."""
        try:
            moved = await self.write(
                self.queue.requeue, job.id, count_attempt=count_attempt, attempt=attempt, what=f"job #{job.id}'s return"
            )
        except Exception:
            log.error("job #%s could not be put back in line; it stays running until the next start", job.id)
            return False
        if moved:
            log.warning("job #%s is back in line", job.id)
        return bool(moved)

    async def write(
        self, fn: Callable[..., Any], *args: Any, what: str, tries: int = WRITE_TRIES, **kwargs: Any
    ) -> Any:
        """``fn(*args, **kwargs)`` on the database thread, tried ``tries`` times; each failure is logged with
        its traceback, and the last one raised."""
        delay = RETRY_DELAY_S
        for tried in range(1, tries + 1):
            try:
                return await self.db.offload(fn, *args, **kwargs)
            except Exception:
                log.warning("writing %s failed (try %d of %d)", what, tried, tries, exc_info=True)
                if tried == tries:
                    log.error("writing %s failed %d times; giving up on it", what, tries)
                    raise
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def emit(self, event: JobEvent) -> None:
        """Hand ``event`` to the sink; a terminal one it refuses is offered again (each refusal logged)."""
        if event.kind == EventKind.PROGRESS:
            self.queue.progress[event.job_id] = event.step  # memory only: no database write per step
        tries = EVENT_TRIES if event.kind.terminal else 1
        for tried in range(1, tries + 1):
            try:
                await self.on_event(event)
                return
            except Exception:
                log.exception("the event handler failed for %s (try %d of %d)", event, tried, tries)


class _NotMade(Exception):
    """The clip could not be encoded or written (the job fails with ``error``'s text)."""

    def __init__(self, error: Exception, values: dict[str, Any]) -> None:
        super().__init__(str(error))
        self.error = error
        self.values = values


_REQUEUED: Any = object()


def _settle_error(future: asyncio.Future[Any], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
