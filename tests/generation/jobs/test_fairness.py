"""The fairness order kept in memory equals the order derived from the rows, whatever happens."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generation.jobs.fairness import FairOrder, Served, fair_order, served_key
from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.params import GenerationParams
from storage.db import Database
from storage.models import JobStatus
from storage.repository import Repository

USERS = ["ann", "bob", "cy", "dee", "eve"]


@dataclass(frozen=True)
class Row:
    id: int
    user_key: str
    weight: int


# --- FairOrder on its own, against fair_order --------------------------------------------------------------
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(USERS), st.integers(1, 64)),
        st.tuples(st.just("claim"), st.just(""), st.just(0)),
        st.tuples(st.just("take"), st.just(""), st.just(0)),
        st.tuples(st.just("cancel"), st.just(""), st.integers(0, 1000)),
        st.tuples(st.just("requeue"), st.just(""), st.integers(0, 1000)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(ops, st.sampled_from([1, 2, 32]))
def test_kept_order_equals_the_order_from_rows(steps: list[tuple[str, str, int]], block: int) -> None:
    order = FairOrder(block=block)
    waiting: dict[int, Row] = {}
    running: dict[int, Row] = {}
    served: dict[str, Served] = {}
    next_id, clock = 1, 0.0
    for op, user, n in steps:
        if op == "add":
            waiting[next_id] = Row(next_id, user, n)
            order.add(next_id, user, n)
            next_id += 1
        elif op == "claim" and waiting:
            first = order.first()
            assert first is not None
            row = waiting.pop(first)
            assert order.remove(first)
            clock += 1.0
            served[row.user_key] = served_key(clock)
            order.serve(row.user_key, served[row.user_key])
            running[row.id] = row
        elif op == "take" and waiting:  # the claim's remove and serve in one move
            clock += 1.0
            expected_first = order.first()
            taken = order.take_first(served_key(clock))
            assert taken is not None and taken == expected_first
            row = waiting.pop(taken)
            served[row.user_key] = served_key(clock)
            running[row.id] = row
        elif op == "cancel" and waiting:
            row = sorted(waiting.values(), key=lambda r: r.id)[n % len(waiting)]
            del waiting[row.id]
            assert order.remove(row.id)
        elif op == "requeue" and running:  # put back in line: it keeps its id, so it goes first for its user
            row = sorted(running.values(), key=lambda r: r.id)[n % len(running)]
            del running[row.id]
            waiting[row.id] = row
            order.add(row.id, row.user_key, row.weight)

        expected = fair_order(sorted(waiting.values(), key=lambda r: r.id), served)
        assert order.order() == [r.id for r in expected]
        assert len(order) == len(expected)
        assert order.first() == (expected[0].id if expected else None)
        weights = list(accumulate(r.weight for r in expected))
        for position, row in enumerate(expected, start=1):
            assert order.place(row.id) == (position, weights[position - 1])


def test_a_user_served_long_ago_comes_before_one_served_just_now() -> None:
    order = FairOrder()
    order.learn("ann", served_key(200.0))
    order.learn("bob", served_key(100.0))
    order.add(1, "ann", 1)
    order.add(2, "bob", 1)
    order.add(3, "cy", 1)  # never served: first
    assert order.order() == [3, 2, 1]


# --- the queue on SQLite: memory, rows, and a restart agree --------------------------------------------------
queue_ops = st.lists(
    st.one_of(
        st.tuples(st.just("accept"), st.sampled_from(USERS), st.sampled_from([1, 2, 4, 8])),
        st.tuples(st.just("next"), st.just(""), st.just(0)),
        st.tuples(st.just("finish"), st.just(""), st.integers(0, 100)),
        st.tuples(st.just("cancel"), st.just(""), st.integers(0, 100)),
        st.tuples(st.just("requeue"), st.just(""), st.integers(0, 100)),
    ),
    max_size=25,
)


def submission(user: str, steps: int) -> Submission:
    return Submission(GenerationParams(prompt=f"{user} clip", steps=steps, frames=8), f"t:{user}", user, "t", "c")


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queue_ops)
def test_queue_order_positions_and_eta_match_the_rows_and_survive_a_restart(steps: list[tuple[str, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'q.db'}")
        repo = Repository(db)
        limits = Limits(max_active_per_user=100, max_per_hour=1000, queue_cap=1000)
        queue = JobQueue(repo, limits)
        queue.record_timing(steps=4, frames=16, denoise_s=4.0, overhead_s=0.5)
        for op, user, n in steps:
            running = sorted(j.id for j in repo.jobs_with_status(JobStatus.RUNNING.value))
            waiting = sorted(j.id for j in repo.jobs_with_status(JobStatus.QUEUED.value))
            if op == "accept":
                queue.accept(submission(user, n))
            elif op == "next":
                queue.next_job()
            elif op == "finish" and running:
                assert queue.finish(running[n % len(running)], JobStatus.SUCCEEDED)
            elif op == "cancel" and waiting + running:
                queue.cancel((waiting + running)[n % len(waiting + running)])
            elif op == "requeue" and running:
                queue.requeue(running[n % len(running)], count_attempt=True)

            from_rows = queue.order_from_rows()
            assert [j.id for j in queue.order()] == [j.id for j in from_rows]
            total = sum(
                queue.estimate(j) * (1 - queue.progress.get(j.id, 0) / j.steps)
                for j in repo.jobs_with_status(JobStatus.RUNNING.value)
            )
            for position, job in enumerate(from_rows, start=1):
                total += queue.estimate(job)
                assert queue.standing(job.id) == (position, pytest.approx(total))
            assert queue.check("t:ann").allowed

        reopened = JobQueue(repo, limits)  # a restart: the order comes from the rows
        assert [j.id for j in reopened.order()] == [j.id for j in queue.order()]
        first = queue.order()[0].id if queue.order() else None
        claimed = reopened.next_job()
        assert (claimed.id if claimed else None) == first
        db.close()
