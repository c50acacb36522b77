"""The pure limiter: time is passed in, nothing sleeps."""

from __future__ import annotations

import pytest

from generation.jobs.ratelimit import Limits, check, gcra_retry_after

LIMITS = Limits(max_active_per_user=2, max_per_hour=20, queue_cap=100)


def test_fresh_user_is_allowed() -> None:
    assert check(LIMITS, now=1000.0, submissions=[], active_for_user=0, queue_size=0).allowed


def test_burst_of_the_whole_hour_then_refused_with_time_to_retry() -> None:
    times = [1000.0 + i for i in range(20)]
    decision = check(LIMITS, now=1020.0, submissions=times, active_for_user=0, queue_size=0)
    assert not decision.allowed
    assert "20 clips per hour" in decision.message
    # The first of the 20 slots comes back 180 s (3600/20) after it was used.
    assert decision.retry_after_s == pytest.approx(160.0)
    assert "try again in" in decision.message and "160 s" not in decision.message  # 160 s is shown as 3 min
    assert "3 min" in decision.message


def test_rate_recovers_evenly() -> None:
    times = [0.0] * 20
    assert gcra_retry_after(times, 179.0, 20) == pytest.approx(1.0)
    assert gcra_retry_after(times, 180.0, 20) == 0.0
    assert gcra_retry_after(times, 3600.0, 20) == 0.0


def test_active_jobs_limit_names_the_limit_and_the_way_out() -> None:
    decision = check(LIMITS, now=0.0, submissions=[], active_for_user=2, queue_size=2)
    assert not decision.allowed
    assert "limit is 2" in decision.message and "/animate-cancel" in decision.message
    assert decision.retry_after_s is None


def test_queue_cap_is_global() -> None:
    decision = check(LIMITS, now=0.0, submissions=[], active_for_user=0, queue_size=100)
    assert not decision.allowed and "queue is full" in decision.message


def test_admins_are_exempt_from_everything() -> None:
    decision = check(LIMITS, now=0.0, submissions=[0.0] * 50, active_for_user=9, queue_size=500, exempt=True)
    assert decision.allowed
