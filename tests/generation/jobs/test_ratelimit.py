"""The pure limiter: time is passed in, nothing sleeps."""

from __future__ import annotations

import random

import pytest

from generation.jobs.ratelimit import History, Limits, check, gcra_retry_after, window_retry_after
from generation.params import clip_units

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


def test_long_clips_count_once_per_16_frames() -> None:
    assert [clip_units(n) for n in (8, 16, 17, 32, 33, 48, 64)] == [1, 1, 2, 2, 3, 3, 4]


def test_hourly_rate_weighs_clip_length() -> None:
    limits = Limits(max_active_per_user=10, max_per_hour=4, queue_cap=100)
    # One 64-frame clip (4 units) uses the whole hour's allowance of four 16-frame clips.
    decision = check(limits, now=100.0, submissions=[(0.0, 4)], active_for_user=0, queue_size=0)
    assert not decision.allowed and "4 clips per hour" in decision.message
    assert decision.retry_after_s == pytest.approx(900.0 - 100.0)  # one unit back after 3600 / 4 s
    # Three 16-frame clips leave room for one more 16-frame clip, not for a 32-frame one (2 units).
    three = [0.0, 1.0, 2.0]
    assert check(limits, now=10.0, submissions=three, active_for_user=0, queue_size=0).allowed
    longer = check(limits, now=10.0, submissions=three, active_for_user=0, queue_size=0, units=2)
    assert not longer.allowed and "counts as 2" in longer.message
    assert longer.retry_after_s == pytest.approx(900.0 - 10.0)
    # A clip bigger than the whole allowance still fits an empty hour (no length is refused for ever).
    assert check(Limits(10, 2, 100), now=0.0, submissions=[], active_for_user=0, queue_size=0, units=4).allowed
    assert gcra_retry_after([(0.0, 1)], 0.0, 20) == gcra_retry_after([0.0], 0.0, 20)


def test_daily_window_weighs_clip_length() -> None:
    day = 24 * 3600.0
    # Quota 4: a 48-frame clip (3 units) at t=0 and a 16-frame one at t=10 fill it.
    jobs = [(0.0, 3), (10.0, 1)]
    assert window_retry_after(jobs, 100.0, 5, day) == 0.0
    assert window_retry_after(jobs, 100.0, 4, day) == pytest.approx(day - 100.0)  # the 3-unit one must leave
    # With quota 5, a 32-frame clip (2 units) must wait for the big one, a 16-frame one fits now.
    assert window_retry_after(jobs, 100.0, 5, day, units=2) == pytest.approx(day - 100.0)
    assert window_retry_after(jobs, 100.0, 5, day, units=1) == 0.0
    # Bigger than the whole quota: allowed once the window is empty.
    assert window_retry_after([], 100.0, 2, day, units=4) == 0.0
    assert window_retry_after([(0.0, 1)], 100.0, 2, day, units=4) == pytest.approx(day - 100.0)


def test_history_answers_as_the_whole_walk_does_as_submissions_come_and_go() -> None:
    """The kept arrival time matches walking every submission: after each accept, after the oldest leave
    the window, after the rate changes, and when a submission comes in earlier than the last (clock back)."""
    rng = random.Random(7)
    history, plain = History(), []
    now = 10_000.0
    for step in range(400):
        now += rng.choice((0.0, 1.0, 30.0, 200.0))
        t = now - 50.0 if step % 97 == 0 else now  # now and then the clock steps back
        units = rng.choice((1, 1, 1, 2, 4))
        history.add(t, units)
        plain.append((t, units))
        if step % 50 == 49:
            cutoff = now - 1_000.0
            history.drop_before(cutoff)
            plain = [item for item in plain if item[0] >= cutoff]
        per_hour = 20 if step < 200 else 7
        kept = list(history)
        assert sorted(kept) == sorted(plain) and [t for t, _ in kept] == sorted(t for t, _ in plain)  # in time order
        for ask in (1, 3):
            assert history.retry_after(now, per_hour, ask) == pytest.approx(gcra_retry_after(plain, now, per_hour, ask))
    refused = check(LIMITS, now=now, submissions=History([now] * 20), active_for_user=0, queue_size=0)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(180.0)
