"""Every repository query, on SQLite and on a real PostgreSQL server (the ``database_url`` fixture)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic.script import ScriptDirectory

from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.db import Database, alembic_config, current_revision
from storage.models import GLOBAL, DeliveryState, Job, JobStatus, utcnow
from storage.repository import DuplicateRequest, Repository, hours_ago
from storage.scope import EVERYWHERE, Scope


def job(user: str = "alice", prompt: str = "a red fox", **values: object) -> Job:
    fields: dict[str, object] = {
        "platform": "console",
        "channel_id": "chan",
        "user_key": f"console:{user}",
        "user_name": user,
        "prompt": prompt,
        "params": {"prompt": prompt},
        "steps": 4,
        "frames": 16,
        "max_bytes": 1000,
    }
    fields.update(values)
    return Job(**fields)


def test_migrations_reach_the_newest_revision(db: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config(str(db.engine.url))).get_current_head()
    assert head == "0011_variants" and current_revision(db.engine) == head  # one line of migrations, all applied


def test_add_read_update_and_duplicate_request(repo: Repository) -> None:
    added = repo.add_job(job(request_key="req-1", params={"prompt": "x", "nested": [1, 2]}))
    assert repo.job(added.id).params == {"prompt": "x", "nested": [1, 2]}
    assert repo.job_by_request_key("req-1").id == added.id
    with pytest.raises(DuplicateRequest) as raised:
        repo.add_job(job(request_key="req-1"))
    assert raised.value.job.id == added.id
    repo.update_job(added.id, seed=2**40, notes="n", worker="animatebot-worker-1")
    row = repo.job(added.id)
    assert (row.seed, row.notes, row.worker) == (2**40, "n", "animatebot-worker-1")
    assert row.created_at.tzinfo is not None
    assert repo.job(10_000) is None


def test_transitions_happen_once_and_respect_the_attempt(repo: Repository) -> None:
    j = repo.add_job(job())
    assert repo.transition(j.id, ["queued"], status="running", attempts=1)
    assert not repo.transition(j.id, ["queued"], status="running")
    assert not repo.transition_attempt(j.id, ["running"], 2, status="succeeded")
    assert repo.transition_attempt(j.id, ["running"], 1, status="succeeded")
    assert repo.job(j.id).status == "succeeded"


def test_status_counts_and_per_user_views(repo: Repository) -> None:
    a1 = repo.add_job(job("alice"))
    a2 = repo.add_job(job("alice"))
    b1 = repo.add_job(job("bob"))
    repo.transition(a1.id, ["queued"], status="running", started_at=utcnow() - timedelta(minutes=5))
    assert [j.id for j in repo.jobs_with_status("queued")] == [a2.id, b1.id]
    assert repo.count_status("queued", "running") == 3
    assert repo.active_count("console:alice") == 2
    assert len(repo.submission_times("console:alice", hours_ago(1))) == 2
    assert repo.submission_times("console:alice", utcnow() + timedelta(hours=1)) == []
    assert set(repo.last_started()) == {"console:alice"}
    assert repo.waiting_heads() == {"console:alice": a2.id, "console:bob": b1.id}
    assert [(r.id, r.user_key, r.steps, r.frames) for r in repo.waiting_brief()] == [
        (a2.id, "console:alice", 4, 16),
        (b1.id, "console:bob", 4, 16),
    ]
    assert repo.latest_active_job("console:alice").id == a2.id
    assert repo.latest_active_job("console:carol") is None


def test_history_search_is_by_words_case_insensitive_and_literal(repo: Repository) -> None:
    fox = repo.add_job(job(prompt="A Red FOX in snow"))
    cat = repo.add_job(job("bob", prompt="a cat, 100% fluffy_tail"))
    repo.add_job(job(prompt="deleted fox", deleted=True))
    other = repo.add_job(job(prompt="red fox elsewhere", platform="slack", channel_id="C1"))
    assert [j.id for j in repo.history(EVERYWHERE, search="red fox")] == [other.id, fox.id]
    assert [j.id for j in repo.history(Scope.server("console", ""), search="fox RED")] == [fox.id]
    assert [j.id for j in repo.history(EVERYWHERE, search="100%")] == [cat.id]
    assert [j.id for j in repo.history(EVERYWHERE, search="fluffy_tail")] == [cat.id]
    assert repo.history(EVERYWHERE, search="1000%") == [] and repo.history(EVERYWHERE, search="fluffy%tail") == []
    assert [j.id for j in repo.history(EVERYWHERE, user_key="console:bob")] == [cat.id]
    assert [j.id for j in repo.history(EVERYWHERE, channel_id="C1")] == [other.id]
    assert [j.id for j in repo.history(EVERYWHERE, limit=1, offset=1)] == [cat.id]  # newest first, deleted left out


def test_review_delivery_stats_and_votes(repo: Repository) -> None:
    done = repo.add_job(job(status="succeeded", denoise_s=4.0, steps_used=4, decode_s=0.5, encode_s=0.5))
    voted = repo.add_job(job(status="succeeded"))
    repo.add_job(job(status="failed", delivery=DeliveryState.MESSAGE.value))
    assert repo.vote(voted.id, "console:bob", "bob", "approve").approve == 1
    assert repo.vote(voted.id, "console:bob", "bob", "reject").reject == 1  # changed, not added
    assert repo.tally(voted.id).approve == 0
    assert [j.id for j in repo.awaiting_review(Scope.server("console", ""), "chan")] == [done.id]
    assert [j.id for j in repo.undelivered()] == [done.id, voted.id]
    stats = repo.stats()
    assert repo.count_status("succeeded") == 2 and repo.count_status("failed") == 1
    assert stats.mean_seconds_per_step == pytest.approx(1.0)
    assert stats.mean_overhead_s == pytest.approx(1.0)


def test_settings_audit_and_bans(repo: Repository) -> None:
    assert repo.get_setting("limits", {"x": 1}) == {"x": 1}
    repo.set_setting("limits", {"per_user": 3})
    repo.set_setting("limits", {"per_user": 4})
    repo.set_setting("paused", True)
    assert (repo.get_setting("limits"), repo.get_setting("paused")) == ({"per_user": 4}, True)
    repo.audit("console:boss", "boss", "pause", "", allowed=True)
    repo.audit("console:eve", "eve", "ban", "user=bob", allowed=False)
    assert [(e.action, e.allowed) for e in repo.audit_log()] == [("ban", False), ("pause", True)]
    repo.ban("console:bob", "spam", "console:boss", GLOBAL)
    repo.ban("console:bob", "more spam", "console:boss", GLOBAL)
    assert repo.ban_of("console:bob", GLOBAL).reason == "more spam"
    assert repo.unban("console:bob", GLOBAL) and not repo.unban("console:bob", GLOBAL)
    assert repo.ban_of("console:bob", GLOBAL) is None


def test_two_claimers_on_their_own_connections_never_take_the_same_job(database_url: str) -> None:
    """Two bot processes sharing a database: every job is claimed exactly once."""
    limits = Limits(max_active_per_user=100, max_per_hour=1000, queue_cap=1000)
    setup = Database(database_url)
    queue = JobQueue(Repository(setup), limits)
    for i in range(40):
        queue.accept(Submission(GenerationParams(prompt=f"p{i}"), f"console:u{i % 7}", f"u{i % 7}", "console"))
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def claimer(index: int) -> None:
        db = Database(database_url, migrate=False)
        own = JobQueue(Repository(db), limits)
        start.wait()
        while own.repo.count_status(JobStatus.QUEUED.value):  # next_job may lose a race and say None
            job = own.next_job()
            if job is not None:
                claimed[index].append(job.id)
        db.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ids = claimed[0] + claimed[1]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 40
    assert Repository(setup).count_status(JobStatus.RUNNING.value) == 40
    assert {j.attempts for j in Repository(setup).jobs_with_status("running")} == {1}
    setup.close()
