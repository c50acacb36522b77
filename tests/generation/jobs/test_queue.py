"""The durable fair queue on real SQLite in a temp dir."""

from __future__ import annotations

import pytest

from generation.jobs.queue import CancelOutcome, JobQueue, Refused, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.db import Database
from storage.models import JobStatus
from storage.repository import DuplicateRequest, Repository


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def repo(database_url: str) -> Repository:
    """The queue suite runs on SQLite and on the session's PostgreSQL server."""
    return Repository(Database(database_url))


def sub(user: str, prompt: str = "a cat", **kw: object) -> Submission:
    return Submission(GenerationParams(prompt=prompt), f"console:{user}", user, "console", "chan", **kw)  # type: ignore[arg-type]


def run_all(queue: JobQueue) -> list[str]:
    """Dispatch and finish every job; the users in the order their jobs ran."""
    order = []
    while (job := queue.next_job()) is not None:
        order.append(job.user_name)
        assert queue.finish(job.id, JobStatus.SUCCEEDED)
    return order


def test_fairness_user_b_runs_second_not_sixth(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(max_active_per_user=10, max_per_hour=100, queue_cap=100))
    for i in range(5):
        queue.accept(sub("alice", f"a{i}"))
    b = queue.accept(sub("bob", "b0"))
    assert b.position == 2
    assert run_all(queue) == ["alice", "bob", "alice", "alice", "alice", "alice"]


def test_round_robin_three_users_fifo_within_each(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(10, 100, 100))
    ids = {}
    for user, n in (("a", 3), ("b", 2), ("c", 1)):
        for i in range(n):
            ids[(user, i)] = queue.accept(sub(user, f"{user}{i}")).job.id
    prompts = [job.prompt for job in queue.order()]
    assert prompts == ["a0", "b0", "c0", "a1", "b1", "a2"]


def test_fairness_survives_a_restart(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(10, 100, 100))
    for i in range(3):
        queue.accept(sub("alice", f"a{i}"))
    first = queue.next_job()
    assert first is not None and first.user_name == "alice"
    queue.finish(first.id, JobStatus.SUCCEEDED)
    queue.accept(sub("bob", "b0"))
    reopened = JobQueue(repo, Limits(10, 100, 100))  # a new process: the order comes from the rows
    assert [j.prompt for j in reopened.order()] == ["b0", "a1", "a2"]


def test_refusal_writes_no_row_and_says_when(repo: Repository) -> None:
    clock = Clock()
    queue = JobQueue(repo, Limits(max_active_per_user=1, max_per_hour=2, queue_cap=100), clock=clock)
    queue.accept(sub("alice"))
    with pytest.raises(Refused) as refused:
        queue.accept(sub("alice"))
    assert "limit is 1" in str(refused.value)
    assert repo.count_status(*[s.value for s in JobStatus]) == 1

    job = queue.next_job()
    assert job is not None
    queue.finish(job.id, JobStatus.SUCCEEDED)
    clock.now += 10
    queue.accept(sub("alice"))  # second of two per hour
    job = queue.next_job()
    assert job is not None
    queue.finish(job.id, JobStatus.SUCCEEDED)
    clock.now += 10
    with pytest.raises(Refused) as hourly:
        queue.accept(sub("alice"))
    assert "2 clips per hour" in str(hourly.value) and "try again in" in str(hourly.value)
    assert hourly.value.retry_after_s is not None and 0 < hourly.value.retry_after_s <= 1800
    assert repo.count_status(*[s.value for s in JobStatus]) == 2
    # An admin is exempt.
    queue.accept(sub("alice"), exempt=True)


def test_hourly_limit_counts_clip_length_also_after_a_restart(repo: Repository) -> None:
    clock = Clock()
    limits = Limits(max_active_per_user=10, max_per_hour=4, queue_cap=100)
    queue = JobQueue(repo, limits, clock=clock)
    queue.accept(Submission(GenerationParams(prompt="a storm", frames=48), "console:alice", "alice", "console", "c"))
    clock.now += 1
    with pytest.raises(Refused) as long_one:  # 3 units used; a 32-frame clip needs 2
        queue.accept(Submission(GenerationParams(prompt="waves", frames=32), "console:alice", "alice", "console", "c"))
    assert "counts as 2" in str(long_one.value)
    queue.accept(sub("alice"))  # a 16-frame clip takes the last unit
    assert repo.count_status(*[s.value for s in JobStatus]) == 2
    reopened = JobQueue(repo, limits, clock=clock)  # a new process weighs the rows' frames
    with pytest.raises(Refused) as after:
        reopened.accept(sub("alice"))
    assert "4 clips per hour" in str(after.value)
    assert reopened.accept(sub("bob")).job.frames == 16  # others are not affected


def test_queue_cap(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(max_active_per_user=5, max_per_hour=100, queue_cap=2))
    queue.accept(sub("a"))
    queue.accept(sub("b"))
    with pytest.raises(Refused, match="queue is full"):
        queue.accept(sub("c"))


def test_duplicate_request_key_is_one_job(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(5, 100, 100))
    first = queue.accept(sub("a", request_key="slack:trigger-1"))
    with pytest.raises(DuplicateRequest) as dup:
        queue.accept(sub("a", request_key="slack:trigger-1"))
    assert dup.value.job.id == first.job.id
    assert repo.count_status("queued") == 1


def test_cancel_queued_and_running(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(5, 100, 100))
    a = queue.accept(sub("a")).job
    b = queue.accept(sub("b")).job
    running = queue.next_job()
    assert running is not None and running.id == a.id
    assert queue.cancel(b.id) is CancelOutcome.CANCELLED
    assert repo.job(b.id).status == "cancelled"  # type: ignore[union-attr]
    assert queue.cancel(a.id) is CancelOutcome.STOPPING
    assert queue.cancel_requested(a.id)
    assert queue.finish(a.id, JobStatus.CANCELLED)
    assert queue.cancel(a.id) is CancelOutcome.FINISHED


def test_pause_holds_dispatch(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(5, 100, 100))
    queue.accept(sub("a"))
    queue.set_paused(True)
    assert queue.next_job() is None
    queue.set_paused(False)
    assert queue.next_job() is not None


def test_recovery_requeues_then_gives_up_after_three_attempts(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(5, 100, 100), max_attempts=3)
    job = queue.accept(sub("a")).job
    for attempt in (1, 2):
        claimed = queue.next_job()
        assert claimed is not None and claimed.attempts == attempt
        # the process dies here; a new one starts
        queue = JobQueue(repo, Limits(5, 100, 100), max_attempts=3)
        assert queue.recover() == ([job.id], [])
        assert repo.job(job.id).status == "queued"  # type: ignore[union-attr]
    claimed = queue.next_job()
    assert claimed is not None and claimed.attempts == 3
    queue = JobQueue(repo, Limits(5, 100, 100), max_attempts=3)
    assert queue.recover() == ([], [job.id])
    ended = repo.job(job.id)
    assert ended is not None and ended.status == "failed" and "3 times" in (ended.error or "")


def test_positions_and_eta_from_measured_speed(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(5, 100, 100))
    jobs = [queue.accept(sub(u)).job for u in ("a", "b", "c")]
    assert [queue.position(j.id) for j in jobs] == [1, 2, 3]
    queue.record_timing(steps=4, frames=16, denoise_s=8.0, overhead_s=1.0)  # 2 s per step
    assert queue.eta(jobs[0].id) == pytest.approx(9.0)
    assert queue.eta(jobs[2].id) == pytest.approx(27.0)
    running = queue.next_job()
    assert running is not None and queue.position(running.id) == 0


def test_a_claim_made_in_memory_counts_at_once_and_its_write_follows(repo: Repository) -> None:
    """``take`` decides and makes the claimed job without the database; ``record`` writes the same claim."""
    queue = JobQueue(repo, Limits(10, 100, 100))
    first = queue.accept(sub("alice", "a0")).job
    second = queue.accept(sub("bob", "b0")).job
    claim = queue.take()
    assert claim is not None and claim.job.id == first.id
    assert (claim.job.status, claim.job.attempts) == (JobStatus.RUNNING.value, 1)
    assert repo.job(first.id).status == JobStatus.QUEUED.value  # not written yet
    assert queue.position(first.id) == 0 and queue.position(second.id) == 1
    assert claim.record()
    stored = repo.job(first.id)
    assert (stored.status, stored.attempts, stored.seed) == (JobStatus.RUNNING.value, 1, claim.job.seed)
    assert stored.started_at is not None


def test_a_cancel_between_the_claim_and_its_write_stops_the_job(repo: Repository) -> None:
    queue = JobQueue(repo, Limits(10, 100, 100))
    job = queue.accept(sub("alice")).job
    claim = queue.take()
    assert claim is not None
    assert queue.cancel(job.id) is CancelOutcome.STOPPING  # it runs already, whatever the row says yet
    assert claim.record()
    assert queue.cancel_requested(job.id)
    stored = repo.job(job.id)
    assert (stored.status, stored.cancel_requested) == (JobStatus.RUNNING.value, True)
    assert queue.finish(job.id, JobStatus.CANCELLED)


def test_a_claim_whose_row_changed_meanwhile_is_dropped(repo: Repository) -> None:
    """Another process ended the row between the claim and its write: the job stops here and nothing is lost."""
    queue = JobQueue(repo, Limits(10, 100, 100))
    job = queue.accept(sub("alice")).job
    claim = queue.take()
    assert claim is not None
    assert repo.transition(job.id, [JobStatus.QUEUED.value], status=JobStatus.CANCELLED.value)
    assert not claim.record()
    assert queue.cancel_requested(job.id)  # a generation already started stops at its next step
    assert not queue.has_active()
    assert not queue.finish(job.id, JobStatus.SUCCEEDED)
    assert repo.job(job.id).status == JobStatus.CANCELLED.value
