"""The durable fair queue: every decision about who runs next lives here, on top of storage.

A job row is written (status ``queued``) before anyone is told about it. Fairness is
round-robin across users with waiting jobs (the user whose last job started longest ago goes
next), FIFO within one user; it is derived from the rows, so it survives restarts.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from generation.jobs import ratelimit
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.models import Job, JobStatus, utcnow
from storage.repository import ACTIVE, DuplicateRequest, Repository, hours_ago

log = logging.getLogger("animatebot.queue")

LIMITS_KEY = "limits"
PAUSED_KEY = "paused"
DEFAULT_SECONDS_PER_STEP = 1.0  # at 16 frames; replaced by measurements as soon as jobs finish
DEFAULT_OVERHEAD_S = 2.0
NEVER_SERVED = (0, 0.0)  # sorts before (1, start time): a user never served goes first


class _Sized(Protocol):
    @property
    def steps(self) -> int: ...
    @property
    def frames(self) -> int: ...


class _Queued(_Sized, Protocol):
    @property
    def id(self) -> int: ...
    @property
    def user_key(self) -> str: ...


_J = TypeVar("_J", bound=_Queued)


@dataclass(frozen=True)
class Submission:
    """A validated request plus who asked and where the answer goes."""

    params: GenerationParams
    user_key: str
    user_name: str
    platform: str
    channel_id: str = ""
    workspace_id: str = ""
    thread_id: str | None = None
    max_bytes: int = 10 * 1024 * 1024
    parent_id: int | None = None
    lineage: str | None = None
    request_key: str | None = None
    tiny: bool = False
    age_restricted: bool = False  # the channel is marked NSFW (Discord); the safety policy reads it


class CancelOutcome(StrEnum):
    """What a cancel did: the queued job is cancelled, the running one is stopping, or it had already ended."""

    CANCELLED = "cancelled"
    STOPPING = "stopping"
    FINISHED = "finished"


@dataclass(frozen=True)
class Accepted:
    job: Job
    position: int  # 1 = next to run
    eta_s: float


class Refused(Exception):
    """A submission the limits turn away; ``str(e)`` tells the user why and when to retry."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Timing:
    seconds_per_step: float = DEFAULT_SECONDS_PER_STEP
    overhead_s: float = DEFAULT_OVERHEAD_S
    measured: bool = False


@dataclass
class JobQueue:
    repo: Repository
    default_limits: Limits = field(default_factory=Limits)
    max_attempts: int = 3
    clock: Callable[[], float] = time.time
    _timing: _Timing = field(default_factory=_Timing)
    _cancel: set[int] = field(default_factory=set)
    progress: dict[int, int] = field(default_factory=dict)  # running job id -> last finished step
    _listeners: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        stats = self.repo.stats()
        if stats.mean_seconds_per_step is not None:
            self._timing = _Timing(stats.mean_seconds_per_step, stats.mean_overhead_s or DEFAULT_OVERHEAD_S, True)

    # --- limits and pause ---------------------------------------------------------------------------
    @property
    def limits(self) -> Limits:
        stored = self.repo.get_setting(LIMITS_KEY)
        if not stored:
            return self.default_limits
        return Limits(**{**self.default_limits.__dict__, **stored})

    def set_limits(self, **values: int) -> Limits:
        unknown = set(values) - set(Limits.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown limit {sorted(unknown)[0]!r}; known: {', '.join(Limits.__dataclass_fields__)}")
        merged = {**self.limits.__dict__, **values}
        self.repo.set_setting(LIMITS_KEY, merged)
        return Limits(**merged)

    @property
    def paused(self) -> bool:
        return bool(self.repo.get_setting(PAUSED_KEY, False))

    def set_paused(self, paused: bool) -> None:
        self.repo.set_setting(PAUSED_KEY, paused)
        if not paused:
            self._notify()

    # --- accepting -------------------------------------------------------------------------------------
    def check(self, user_key: str, *, exempt: bool = False) -> ratelimit.Decision:
        """Would a submission by this user be accepted now? Writes nothing."""
        now = self.clock()
        submissions = [t.timestamp() for t in self.repo.submission_times(user_key, hours_ago(2))]
        return ratelimit.check(
            self.limits,
            now=now,
            submissions=submissions,
            active_for_user=self.repo.active_count(user_key),
            queue_size=self.repo.count_status(JobStatus.QUEUED.value),
            exempt=exempt,
        )

    def accept(self, sub: Submission, *, exempt: bool = False) -> Accepted:
        """Check the limits, write the job row, and say where it stands.

        Raises Refused (nothing written) when a limit says no, and storage.repository.DuplicateRequest
        when ``sub.request_key`` was accepted before.
        """
        if sub.request_key:
            existing = self.repo.job_by_request_key(sub.request_key)
            if existing is not None:
                raise DuplicateRequest(existing)
        with self._lock:  # check-then-insert must not interleave within this process
            decision = self.check(sub.user_key, exempt=exempt)
            if not decision.allowed:
                raise Refused(decision.message, decision.retry_after_s)
            p = sub.params
            job = self.repo.add_job(
                Job(
                    parent_id=sub.parent_id,
                    lineage=sub.lineage,
                    request_key=sub.request_key,
                    platform=sub.platform,
                    workspace_id=sub.workspace_id,
                    channel_id=sub.channel_id,
                    thread_id=sub.thread_id,
                    user_key=sub.user_key,
                    user_name=sub.user_name,
                    prompt=p.prompt,
                    negative_prompt=p.negative_prompt,
                    params=p.to_dict(),
                    steps=p.steps,
                    frames=p.frames,
                    requested_model=p.model,
                    format=p.format,
                    max_bytes=sub.max_bytes,
                    seed=p.seed,
                    tiny=sub.tiny,
                    age_restricted=sub.age_restricted,
                    created_at=datetime.fromtimestamp(self.clock()).astimezone(),
                )
            )
        position, eta = self.standing(job.id)
        self._notify()
        return Accepted(job, position or 1, eta)

    # --- dispatch ------------------------------------------------------------------------------------------
    def order(self) -> list[Job]:
        """Every queued job in the order they will run (round-robin across users, FIFO per user)."""
        return self._fair(self.repo.jobs_with_status(JobStatus.QUEUED.value))

    def _fair(self, queued: Sequence[_J]) -> list[_J]:
        per_user: dict[str, deque[_J]] = {}
        for job in queued:
            per_user.setdefault(job.user_key, deque()).append(job)
        # Sort key per user: never served (0, ...), served before (1, start time), served in this
        # simulation (2, turn): whoever was served longest ago goes next; ties by oldest job.
        last = self._served_at()
        heap = [(last.get(user, NEVER_SERVED), jobs[0].id, user) for user, jobs in per_user.items()]
        heapq.heapify(heap)
        order: list[_J] = []
        while heap:
            _, _, user = heapq.heappop(heap)
            jobs = per_user[user]
            order.append(jobs.popleft())
            if jobs:
                heapq.heappush(heap, ((2, float(len(order))), jobs[0].id, user))
        return order

    def _served_at(self) -> dict[str, tuple[int, float]]:
        return {user: (1, started.timestamp()) for user, started in self.repo.last_started().items()}

    def next_job(self) -> Job | None:
        """Claim the next job (status running, attempts + 1), or None when nothing waits or paused."""
        if self.paused:
            return None
        for _ in range(3):  # another claimer may win a race; look again
            heads = self.repo.waiting_heads()
            if not heads:
                return None
            last = self._served_at()
            user = min(heads, key=lambda u: (last.get(u, NEVER_SERVED), heads[u]))
            job = self.repo.job(heads[user])
            if job is None:
                continue
            started = utcnow()
            claimed = self.repo.transition(
                job.id,
                [JobStatus.QUEUED.value],
                status=JobStatus.RUNNING.value,
                attempts=job.attempts + 1,
                started_at=started,
                progress_step=0,
            )
            if claimed:
                return self.repo.job(job.id)
        return None

    def position(self, job_id: int) -> int | None:
        """1-based place among waiting jobs; 0 when running; None when finished or unknown."""
        return self.standing(job_id)[0]

    def standing(self, job_id: int) -> tuple[int | None, float]:
        """(position, seconds until done) in one pass over the queue; see ``position`` and ``eta``."""
        total = 0.0
        for running in self.repo.jobs_with_status(JobStatus.RUNNING.value):
            done = self.progress.get(running.id, 0) / max(1, running.steps)
            total += self.estimate(running) * (1 - done)
            if running.id == job_id:
                return 0, total
        # Only the columns the estimate needs: this runs on every accept, with the whole queue.
        for index, job in enumerate(self._fair(self.repo.waiting_brief()), start=1):
            total += self.estimate(job)
            if job.id == job_id:
                return index, total
        return None, 0.0

    def estimate(self, job: _Sized) -> float:
        t = self._timing
        return t.seconds_per_step * job.steps * job.frames / 16 + t.overhead_s

    def eta(self, job_id: int) -> float:
        """Seconds until ``job_id`` should be finished, from measured seconds per step."""
        return self.standing(job_id)[1]

    def record_timing(self, steps: int, frames: int, denoise_s: float, overhead_s: float) -> None:
        """Fold a finished job's timings into the estimates (an exponential moving average)."""
        per_step = denoise_s / max(1, steps) / max(1, frames) * 16
        t = self._timing
        if not t.measured:
            self._timing = _Timing(per_step, overhead_s, True)
        else:
            self._timing = _Timing(
                0.7 * t.seconds_per_step + 0.3 * per_step, 0.7 * t.overhead_s + 0.3 * overhead_s, True
            )

    # --- cancel and finish ------------------------------------------------------------------------------------
    def cancel(self, job_id: int) -> CancelOutcome:
        """CANCELLED (it was queued), STOPPING (running: stops at its next step) or FINISHED (too late)."""
        if self.repo.transition(
            job_id, [JobStatus.QUEUED.value], status=JobStatus.CANCELLED.value, finished_at=utcnow()
        ):
            return CancelOutcome.CANCELLED
        if self.repo.transition(job_id, [JobStatus.RUNNING.value], cancel_requested=True):
            self._cancel.add(job_id)
            return CancelOutcome.STOPPING
        return CancelOutcome.FINISHED

    def cancel_requested(self, job_id: int) -> bool:
        return job_id in self._cancel

    def finish(self, job_id: int, status: JobStatus, **values: object) -> bool:
        """Move a running job to a terminal state exactly once; False when it was not running."""
        self._cancel.discard(job_id)
        self.progress.pop(job_id, None)
        return self.repo.transition(
            job_id, [JobStatus.RUNNING.value], status=status.value, finished_at=utcnow(), **values
        )

    def requeue(self, job_id: int, *, count_attempt: bool) -> None:
        """Put a running job back in line (shutdown: not its fault, so the attempt is given back)."""
        job = self.repo.job(job_id)
        if job is None:
            return
        attempts = job.attempts if count_attempt else max(0, job.attempts - 1)
        self._cancel.discard(job_id)
        self.repo.transition(job_id, [JobStatus.RUNNING.value], status=JobStatus.QUEUED.value, attempts=attempts)
        self._notify()

    def recover(self) -> tuple[list[int], list[int]]:
        """At startup: jobs left ``running`` by a crash are requeued, or failed after max_attempts.

        Returns (requeued ids, failed ids). A job whose cancel was requested is cancelled instead.
        """
        requeued, failed = [], []
        for job in self.repo.jobs_with_status(JobStatus.RUNNING.value):
            if job.cancel_requested:
                self.finish(job.id, JobStatus.CANCELLED)
                failed.append(job.id)
            elif job.attempts >= self.max_attempts:
                self.finish(
                    job.id,
                    JobStatus.FAILED,
                    error=f"the bot stopped while making this clip {job.attempts} times; giving up on it",
                )
                failed.append(job.id)
            else:
                self.repo.transition(job.id, [JobStatus.RUNNING.value], status=JobStatus.QUEUED.value)
                requeued.append(job.id)
        if requeued or failed:
            log.info("recovered after restart: requeued %s, ended %s", requeued, failed)
        return requeued, failed

    def active_jobs(self) -> list[Job]:
        return self.repo.jobs_with_status(*ACTIVE)

    # --- wake-ups for the worker ------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) whenever new work may be available."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()
