"""finish and requeue carry the attempt number: a late answer from an attempt presumed dead changes nothing."""

from __future__ import annotations

from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.models import JobStatus
from storage.repository import Repository


def _queue(repo: Repository) -> JobQueue:
    return JobQueue(repo, Limits(max_active_per_user=10, max_per_hour=100, queue_cap=100))


def _accept(queue: JobQueue) -> int:
    sub = Submission(GenerationParams(prompt="a cat"), "console:alice", "alice", "console", "chan")
    return queue.accept(sub).job.id


def test_late_answer_of_a_presumed_dead_attempt_is_ignored(repo: Repository) -> None:
    queue = _queue(repo)
    job_id = _accept(queue)
    first = queue.next_job()
    assert first is not None and first.attempts == 1
    assert queue.requeue(job_id, count_attempt=True, attempt=1)  # its worker died
    second = queue.next_job()
    assert second is not None and second.id == job_id and second.attempts == 2

    assert not queue.finish(job_id, JobStatus.SUCCEEDED, attempt=1, output_path="old.gif")  # the dead one answers
    assert not queue.requeue(job_id, count_attempt=True, attempt=1)
    row = repo.job(job_id)
    assert row is not None and row.status == "running" and row.output_path is None

    assert queue.finish(job_id, JobStatus.SUCCEEDED, attempt=2, output_path="new.gif", worker="w1")
    row = repo.job(job_id)
    assert row is not None and (row.status, row.output_path, row.worker) == ("succeeded", "new.gif", "w1")
    assert not queue.finish(job_id, JobStatus.FAILED, attempt=2)  # exactly once


def test_callers_without_attempt_keep_working(repo: Repository) -> None:
    queue = _queue(repo)
    job_id = _accept(queue)
    assert queue.next_job() is not None
    queue.requeue(job_id, count_attempt=False)
    job = queue.next_job()
    assert job is not None and job.attempts == 1
    assert queue.finish(job_id, JobStatus.SUCCEEDED)
