"""The durable fair queue: every decision about who runs next lives here, on top of storage.

A job row is written (status ``queued``) before anyone is told about it. Fairness is
round-robin across users with waiting jobs (the user whose last job started longest ago goes
next), FIFO within one user; it is derived from the rows, so it survives restarts.

The rows are the truth; this process keeps what it needs to decide quickly beside them, loaded
once at start and changed only together with the rows it mirrors: the fairness order
(``FairOrder``), the running jobs, each user's recent submissions, the limits and the pause flag.
So accepting a job, placing it and claiming the next one are one database write each, and no
decision walks the queue. The waiting jobs' rows are kept too, so a claim is decided and the job
made in memory (``take``) and its write can follow on the database thread while the job runs.
Every method is blocking and thread-safe: async callers run them with ``Database.offload``.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from generation.jobs import ratelimit
from generation.jobs.fairness import FairOrder, Served, fair_order, served_key
from generation.jobs.ratelimit import Limits
from generation.params import UNIT_FRAMES, GenerationParams, clip_units, denoise_frames
from storage.models import Job, JobStatus, Tenant, utcnow
from storage.repository import ACTIVE, DuplicateRequest, Repository, as_claimed, columns_of

log = logging.getLogger("animatebot.queue")

LIMITS_KEY = "limits"
PAUSED_KEY = "paused"
DEFAULT_SECONDS_PER_STEP = 1.0  # at 16 frames; replaced by measurements as soon as jobs finish
DEFAULT_OVERHEAD_S = 2.0
HISTORY_S = 2 * 3600.0  # submissions older than this cannot affect the hourly limit
CLAIM_TRIES = 3  # a claim's write is tried this often before its job goes back in line


class _Sized(Protocol):
    @property
    def steps(self) -> int: ...
    @property
    def frames(self) -> int: ...
    @property
    def variant_count(self) -> int: ...


@dataclass(frozen=True)
class _Running:
    id: int
    user_key: str
    steps: int
    frames: int
    variant_count: int = 1


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
    private_channel: str | None = None  # made where not everyone can look: the one channel it may be shown in


class CancelOutcome(StrEnum):
    """What a cancel did: the queued job is cancelled, the running one is stopping, or it had already ended."""

    CANCELLED = "cancelled"
    STOPPING = "stopping"
    FINISHED = "finished"


@dataclass(frozen=True)
class Claim:
    """A job claimed in memory (``JobQueue.take``): it may run at once; ``record()`` writes the claim
    (on the database thread, before any later write of that job) and says whether the row agreed.

    ``dropped`` is set when the claim could not be written (the job is back in line): a generation
    already started for it stops at its next step, and nothing of it is written.
    """

    job: Job
    record: Callable[[], bool]
    dropped: threading.Event = field(default_factory=threading.Event)


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
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _order: FairOrder = field(default_factory=FairOrder)
    _running: dict[int, _Running] = field(default_factory=dict)
    _rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # waiting job id -> its row, for the claim
    _submitted: dict[str, ratelimit.History] = field(default_factory=dict)  # user -> recent (time, units)
    _limits: dict[str, int] | None = None
    _paused: bool = False
    # A server its admins paused: its waiting jobs are held out of the order (kept, not lost) until resumed.
    _paused_servers: set[Tenant] = field(default_factory=set)
    _held: dict[int, dict[str, Any]] = field(default_factory=dict)  # held job id -> its row
    _waiting_in: Counter[Tenant] = field(default_factory=Counter)  # server -> its waiting jobs, held or not
    # Why no job can be accepted now, or None (the media disk's free space: generation.media.space.DiskSpace).
    space: Callable[[], str | None] | None = None

    def __post_init__(self) -> None:
        stats = self.repo.stats()
        if stats.mean_seconds_per_step is not None:
            self._timing = _Timing(stats.mean_seconds_per_step, stats.mean_overhead_s or DEFAULT_OVERHEAD_S, True)
        self._limits = self.repo.get_setting(LIMITS_KEY) or None
        self._paused = bool(self.repo.get_setting(PAUSED_KEY, False))
        self._paused_servers = self.repo.paused_servers()
        self._load()

    def _load(self) -> None:
        """Mirror the rows: waiting jobs in fairness order, running jobs."""
        with self._lock:
            self._order = FairOrder()
            for user, started in self.repo.last_started().items():
                self._order.learn(user, served_key(started.timestamp()))
            self._rows, self._held, self._waiting_in = {}, {}, Counter()
            for job in self.repo.jobs_with_status(JobStatus.QUEUED.value):
                self._add_waiting(columns_of(job))
            self._running = {row[0]: _Running(*row) for row in self.repo.waiting_brief(JobStatus.RUNNING.value)}

    def _add_waiting(self, row: dict[str, Any]) -> None:
        """A waiting job (its row, status queued) joins the order, or is held while its server is paused."""
        server = _server_of(row)
        self._waiting_in[server] += 1
        if server in self._paused_servers:
            self._held[row["id"]] = row
            return
        self._enter_order(row)

    def _enter_order(self, row: dict[str, Any]) -> None:
        user = row["user_key"]
        if not self._order.knows(user):
            started = self.repo.last_started_of(user)
            self._order.learn(user, served_key(started.timestamp() if started else None))
        self._order.add(row["id"], user, row["steps"] * denoise_frames(row["frames"]) * (row.get("variant_count") or 1))
        self._rows[row["id"]] = row

    # --- limits and pause ---------------------------------------------------------------------------
    @property
    def limits(self) -> Limits:
        if not self._limits:
            return self.default_limits
        return Limits(**{**self.default_limits.__dict__, **self._limits})

    def set_limits(self, **values: int) -> Limits:
        unknown = set(values) - set(Limits.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown limit {sorted(unknown)[0]!r}; known: {', '.join(Limits.__dataclass_fields__)}")
        merged = {**self.limits.__dict__, **values}
        self.repo.set_setting(LIMITS_KEY, merged)
        self._limits = merged
        return Limits(**merged)

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        self.repo.set_setting(PAUSED_KEY, paused)
        self._paused = paused
        if not paused:
            self._notify()

    def server_paused(self, server: Tenant) -> bool:
        return server in self._paused_servers

    def set_server_paused(self, server: Tenant, paused: bool) -> int:
        """Pause or resume one server's jobs: while paused they wait (held, never dropped) and the claim
        passes them by; the rest of the queue runs. Returns how many of its jobs wait."""
        with self._lock:
            self.repo.set_server_paused(server, paused)
            if paused:
                self._paused_servers.add(server)
                for job_id, row in list(self._rows.items()):
                    if _server_of(row) == server and self._order.remove(job_id):
                        self._held[job_id] = self._rows.pop(job_id)
            else:
                self._paused_servers.discard(server)
                for job_id, row in list(self._held.items()):
                    if _server_of(row) == server:
                        del self._held[job_id]
                        self._enter_order(row)
            waiting = self._waiting_in[server]
        if not paused:
            self._notify()
        return waiting

    def _left_waiting(self, job_id: int) -> dict[str, Any] | None:
        """A waiting job leaves (claimed or cancelled): its row, or None when it was not waiting here."""
        row = self._rows.pop(job_id, None) or self._held.pop(job_id, None)
        if row is not None:
            server = _server_of(row)
            self._waiting_in[server] -= 1
            if self._waiting_in[server] <= 0:
                del self._waiting_in[server]
        return row

    # --- accepting -------------------------------------------------------------------------------------
    def check(
        self,
        user_key: str,
        *,
        exempt: bool = False,
        frames: int = UNIT_FRAMES,
        server: Tenant | None = None,
        server_limits: Limits | None = None,
        variants: int = 1,
    ) -> ratelimit.Decision:
        """Would a submission of ``frames`` by this user be accepted now? Writes nothing.

        The owners' limits hold for everyone; ``server_limits`` (a server's own, for a job in ``server``)
        are checked too, their queue cap against that server's waiting jobs."""
        with self._lock:
            now, recent, active, units = (
                self.clock(),
                self._recent(user_key),
                self._active_for(user_key),
                clip_units(frames, variants),
            )
            decision = ratelimit.check(
                self.limits,
                now=now,
                submissions=recent,
                active_for_user=active,
                queue_size=len(self._order) + len(self._held),
                exempt=exempt,
                units=units,
            )
            if not decision.allowed or server_limits is None or server is None:
                return decision
            return ratelimit.check(
                server_limits,
                now=now,
                submissions=recent,
                active_for_user=active,
                queue_size=self._waiting_in[server],
                exempt=exempt,
                units=units,
            )

    def _recent(self, user_key: str) -> ratelimit.History:
        cutoff = self.clock() - HISTORY_S  # the same clock as the submissions' times and the checks' "now"
        times = self._submitted.get(user_key)
        if times is None:
            since = datetime.fromtimestamp(cutoff).astimezone()
            times = ratelimit.History(ratelimit.by_length(self.repo.submission_times(user_key, since)))
            self._submitted[user_key] = times
        times.drop_before(cutoff)
        return times

    def _active_for(self, user_key: str) -> int:
        running = sum(1 for job in self._running.values() if job.user_key == user_key)
        return self._order.waiting(user_key) + running

    def accept(self, sub: Submission, *, exempt: bool = False, server_limits: Limits | None = None) -> Accepted:
        """Check the limits (the owners', then ``server_limits``: its server's own), write the job row, and
        say where it stands.

        Raises Refused (nothing written) when a limit says no, and storage.repository.DuplicateRequest
        when ``sub.request_key`` was accepted before.
        """
        if sub.request_key:
            existing = self.repo.job_by_request_key(sub.request_key)
            if existing is not None:
                raise DuplicateRequest(existing)
        _check_media(sub, self.space)
        with self._lock:  # check-then-insert must not interleave within this process
            server = Tenant(sub.platform, sub.workspace_id)
            decision = self.check(
                sub.user_key,
                exempt=exempt,
                frames=sub.params.frames,
                server=server,
                server_limits=server_limits,
                variants=sub.params.variants,
            )
            if not decision.allowed:
                raise Refused(decision.message, decision.retry_after_s)
            p = sub.params
            created = datetime.fromtimestamp(self.clock()).astimezone()
            job = self.repo.insert_job(
                {
                    "parent_id": sub.parent_id,
                    "lineage": sub.lineage,
                    "request_key": sub.request_key,
                    "platform": sub.platform,
                    "workspace_id": sub.workspace_id,
                    "channel_id": sub.channel_id,
                    "thread_id": sub.thread_id,
                    "user_key": sub.user_key,
                    "user_name": sub.user_name,
                    "prompt": p.prompt,
                    "negative_prompt": p.negative_prompt,
                    "params": p.to_dict(),
                    "steps": p.steps,
                    "frames": p.frames,
                    "variant_count": p.variants,
                    "requested_model": p.model,
                    "format": p.format,
                    "max_bytes": sub.max_bytes,
                    "input_image": p.image,
                    "seed": p.seed,
                    "tiny": sub.tiny,
                    "age_restricted": sub.age_restricted,
                    "private_channel": sub.private_channel,
                    "created_at": created,
                }
            )
            self._recent(sub.user_key).add(created.timestamp(), clip_units(p.frames, p.variants))
            self._add_waiting(columns_of(job))
            position, eta = self.standing(job.id)
        self._notify()
        return Accepted(job, position or 1, eta)

    # --- dispatch ------------------------------------------------------------------------------------------
    def order(self) -> list[Job]:
        """Every queued job in the order they will run (round-robin across users, FIFO per user)."""
        rows = {job.id: job for job in self.repo.jobs_with_status(JobStatus.QUEUED.value)}
        with self._lock:
            ids = [*self._order.order(), *sorted(self._held)]  # a paused server's jobs wait behind the rest
        return [rows[job_id] for job_id in ids if job_id in rows]

    def order_from_rows(self) -> list[Job]:
        """The same order derived from the rows alone, as a new process would see it."""
        served: dict[str, Served] = {user: served_key(t.timestamp()) for user, t in self.repo.last_started().items()}
        return fair_order(self.repo.jobs_with_status(JobStatus.QUEUED.value), served)

    def next_job(self) -> Job | None:
        """Claim the next job (status running, attempts + 1, its seed fixed), or None when nothing waits or paused.

        ``take`` and its write at once: on the database thread.
        """
        while (claim := self.take()) is not None:
            if claim.record():
                return claim.job
            if claim.job.id in self._rows:  # its write failed and it is back in line: the next try comes later
                return None
        return None

    def take(self) -> Claim | None:
        """Claim the next job in memory, from any thread: None when nothing waits or the queue is paused.

        From here on the job counts as running (positions, cancels); ``Claim.record`` writes it.
        """
        with self._lock:
            if self._paused:
                return None
            started, seed = utcnow(), secrets.randbelow(2**32)
            job_id = self._order.take_first(served_key(started.timestamp()))
            if job_id is None:
                return None
            row = self._left_waiting(job_id)
            assert row is not None  # every id in the order has its row
            job = as_claimed(row, started, seed)
            self._running[job_id] = _Running(job_id, job.user_key, job.steps, job.frames, job.variant_count or 1)
        dropped = threading.Event()
        return Claim(job, lambda: self._record_claim(job_id, started, seed, row, dropped), dropped)

    def _record_claim(
        self, job_id: int, started: datetime, seed: int, row: dict[str, Any], dropped: threading.Event
    ) -> bool:
        """The claim's write, tried CLAIM_TRIES times. False when it could not be written (the job goes back
        in line, as its row still says) or the row was no longer waiting (changed behind this process's
        back): either way the job is no longer running here, and a generation already started stops."""
        for tried in range(1, CLAIM_TRIES + 1):
            try:
                claimed = self.repo.claim(job_id, started, seed)
                break
            except Exception:
                log.warning(
                    "job #%s: writing its claim failed (try %d of %d)", job_id, tried, CLAIM_TRIES, exc_info=True
                )
        else:
            log.error("job #%s: its claim could not be written; it goes back in line", job_id)
            with self._lock:
                if self._running.pop(job_id, None) is not None:
                    self._add_waiting(row)
            dropped.set()
            self._notify()
            return False
        if claimed is not None:
            return True
        log.warning("job #%s was not waiting any more; skipped", job_id)
        dropped.set()
        with self._lock:
            self._running.pop(job_id, None)
            self._cancel.add(job_id)
        return False

    def position(self, job_id: int) -> int | None:
        """1-based place among waiting jobs; 0 when running; None when finished or unknown."""
        return self.standing(job_id)[0]

    def standing(self, job_id: int) -> tuple[int | None, float]:
        """(position, seconds until done); see ``position`` and ``eta``. Never walks the queue."""
        with self._lock:
            total = 0.0
            for job_id_running in sorted(self._running):
                running = self._running[job_id_running]
                done = self.progress.get(running.id, 0) / max(1, running.steps)
                total += self.estimate(running) * (1 - done)
                if running.id == job_id:
                    return 0, total
            place = self._order.place(job_id)
            if place is None:
                return None, 0.0
            position, weight = place
            t = self._timing
            return position, total + t.seconds_per_step * weight / 16 + t.overhead_s * position

    def estimate(self, job: _Sized) -> float:
        # Long clips cost more than their length: FreeNoise's windows overlap (48 frames: 144 evaluated).
        t = self._timing
        # A set of takes denoises each of them: it counts that many times.
        takes = job.variant_count or 1
        return t.seconds_per_step * job.steps * denoise_frames(job.frames) * takes / 16 + t.overhead_s

    def eta(self, job_id: int) -> float:
        """Seconds until ``job_id`` should be finished, from measured seconds per step."""
        return self.standing(job_id)[1]

    def record_timing(self, steps: int, frames: int, denoise_s: float, overhead_s: float, variants: int = 1) -> None:
        """Fold a finished job's timings into the estimates (an exponential moving average)."""
        per_step = denoise_s / max(1, steps) / max(1, denoise_frames(frames) * variants) * 16
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
        with self._lock:
            if job_id in self._running:  # claimed: its row says running, or will once the claim is written
                if self.repo.transition(job_id, ACTIVE, cancel_requested=True):
                    self._cancel.add(job_id)
                    return CancelOutcome.STOPPING
                return CancelOutcome.FINISHED
            if self.repo.transition(
                job_id, [JobStatus.QUEUED.value], status=JobStatus.CANCELLED.value, finished_at=utcnow()
            ):
                self._order.remove(job_id)
                self._left_waiting(job_id)
                return CancelOutcome.CANCELLED
            if self.repo.transition(job_id, [JobStatus.RUNNING.value], cancel_requested=True):
                self._cancel.add(job_id)
                return CancelOutcome.STOPPING
            return CancelOutcome.FINISHED

    def cancel_requested(self, job_id: int) -> bool:
        return job_id in self._cancel

    def finish(self, job_id: int, status: JobStatus, attempt: int | None = None, **values: object) -> bool:
        """Move a running job to a terminal state exactly once; False when it was not running.

        With ``attempt``, only while the job is still on that attempt: a late answer from an attempt
        presumed dead (its worker lost, the job requeued and claimed again) changes nothing.
        """
        return self.finish_job(job_id, status, attempt, **values) is not None

    def finish_job(self, job_id: int, status: JobStatus, attempt: int | None = None, **values: object) -> Job | None:
        """``finish``, returning the job as it ended (None when it was not running): its delivery needs no read."""
        with self._lock:
            job = self.repo.end_job(
                job_id, [JobStatus.RUNNING.value], attempt, status=status.value, finished_at=utcnow(), **values
            )
            if job is not None:
                self._cancel.discard(job_id)
                self.progress.pop(job_id, None)
                self._running.pop(job_id, None)
            return job

    def finish_made(self, job_id: int, attempt: int | None, **values: object) -> Job | None:
        """End a running job whose clip is made: succeeded, or cancelled when a cancel (or a delete) came
        while it was being encoded or stored. The job as it ended (read its status), None when it was not
        running. Decided under the lock a cancel takes: a cancel is either seen here or comes too late."""
        with self._lock:
            if job_id in self._cancel:
                return self.finish_job(job_id, JobStatus.CANCELLED, attempt)
            return self.finish_job(job_id, JobStatus.SUCCEEDED, attempt, **values)

    def set_place(self, job_id: int, **where: str | None) -> None:
        """Record where a job's parent message is (``channel_id``, ``workspace_id``, ``message_id``,
        ``thread_id``), in its row and in the copy a claim starts from."""
        with self._lock:
            self.repo.update_job(job_id, **where)
            row = self._rows.get(job_id) or self._held.get(job_id)
            if row is not None:
                row.update(where)

    def requeue(self, job_id: int, *, count_attempt: bool, attempt: int | None = None) -> bool:
        """Put a running job back in line (shutdown: not its fault, so the attempt is given back).

        With ``attempt``, only while the job is still on that attempt. True when it went back in line.
        """
        with self._lock:
            job = self.repo.job(job_id)
            if job is None:
                return False
            if attempt is not None and job.attempts != attempt:
                return False
            attempts = job.attempts if count_attempt else max(0, job.attempts - 1)
            self._cancel.discard(job_id)
            self.progress.pop(job_id, None)
            moved = self.repo.transition_attempt(
                job_id, [JobStatus.RUNNING.value], job.attempts, status=JobStatus.QUEUED.value, attempts=attempts
            )
            if moved:
                self._running.pop(job_id, None)
                self._add_waiting({**columns_of(job), "status": JobStatus.QUEUED.value, "attempts": attempts})
        self._notify()
        return moved

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
                with self._lock:
                    if self.repo.transition(job.id, [JobStatus.RUNNING.value], status=JobStatus.QUEUED.value):
                        self._running.pop(job.id, None)
                        self._add_waiting({**columns_of(job), "status": JobStatus.QUEUED.value})
                requeued.append(job.id)
        if requeued or failed:
            log.info("recovered after restart: requeued %s, ended %s", requeued, failed)
        return requeued, failed

    def active_jobs(self) -> list[Job]:
        return self.repo.jobs_with_status(*ACTIVE)

    # Both read memory without the lock (single reads are atomic): the event loop calls them, and the
    # lock may be held by the database thread for the length of a write.
    def has_active(self) -> bool:
        """Whether any job is queued or running (from memory: no database call)."""
        return bool(self._running) or len(self._order) > 0

    def has_waiting(self) -> bool:
        """Whether a job waits to be claimed (and the queue is not paused)."""
        return not self._paused and len(self._order) > 0

    # --- wake-ups for the worker ------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) whenever new work may be available."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()


def _server_of(row: dict[str, Any]) -> Tenant:
    return Tenant(row["platform"], row["workspace_id"] or "")


def _check_media(sub: Submission, space: Callable[[], str | None] | None) -> None:
    """Refused (one line) while the media disk is too full to write a clip, or when the still an image job animates
    has expired (retention removed it: a reroll of an old image clip cannot be made again)."""
    refusal = space() if space is not None else None
    if refusal is not None:
        raise Refused(refusal)
    if sub.params.image is not None and not os.path.exists(sub.params.image):
        raise Refused(
            "the image this clip was animated from has expired (old clips' files are removed from the bot's disk); "
            "animate the image again with image:"
        )
